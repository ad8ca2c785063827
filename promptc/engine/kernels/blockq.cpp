// Block-quantized linear for the CPU, in llama.cpp's style (ggml Q4_1 / Q8_0 weights x Q8_1 activations).
//
// Weights: 32-value blocks along in_features, each with an fp16 scale d and an fp16 offset m
// (w = d*q + m): bits=4 holds GGUF Q4_1 values (q in 0..15); bits=8 holds GGUF Q8_0 values shifted
// to unsigned (q+128 in 0..255, m = -128*d). Output features are grouped in tiles of 16 (one
// AVX-512 lane each; the last tile padded with zero weights). For tile t and block b the 32x16
// values are stored as 8 groups of 4 consecutive inputs: lane i of group g holds
// q[16t+i][32b+4g .. 32b+4g+3]. bits=4 packs groups 2j (low nibbles) and 2j+1 (high nibbles)
// into one 64-byte vector j; bits=8 stores each group as its own 64 bytes.
//   w: (tiles, nb * 256) bytes for bits=4, (tiles, nb * 512) for bits=8; d, m: (tiles, nb * 16) fp16.
// Activations: quantized at call time per 32-value block to int8 (a = amax/127, and the block's
// scaled sum s = a*sum(qa), as ggml's Q8_1), so a block contributes d*a*sum(q*qa) + m*s.
// The integer sums run 16 output features at a time (AVX-512 VNNI dpbusd with the row's 4 inputs
// broadcast; AVX2 maddubs+madd; or a scalar loop); each unpacked weight vector serves every row of
// the call (up to 8 at a time), so a decode batch reads each weight once. Tiles are split over
// torch's intra-op pool (at::parallel_for, which needs this file compiled with -fopenmp: without it
// the whole range runs on the calling thread), so --threads holds. Also here, fused around the
// matmuls: RMSNorm, SwiGLU and the residual add (blockq_linear), RoPE and the K/V writes (rope_qkv,
// decode_attention), one-token attention and the greedy pick (argmax_rows).
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <c10/util/Half.h>
#include <c10/util/BFloat16.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>
#include <vector>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace {

constexpr int QK = 32;      // values per block
constexpr int TILE = 16;    // output features per tile
constexpr int ROWCHUNK = 8; // rows sharing one pass over the weights
// bytes ahead of the block being multiplied that its weights are prefetched: at up to 8 rows a tile's
// weights are read once per call, straight from memory (2 KB was the best of 1-4 KB; docs/benchmarks.md)
constexpr int PREFETCH = 2048;

#if defined(__AVX512F__)
// e^x for 16 floats, x in [-87.3, 88] (softmax scores minus their maximum, and SwiGLU's e^-gate
// clamped at 88), Cephes' degree-6 polynomial on x - n ln2 and a 2^n scale; ~2 ulp. Hand-written: the compiler has no vector exp without SVML, and
// one scalar std::exp per cached token and query head was most of a long-context step.
inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 y = _mm512_set1_ps(1.9875691500E-4f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507E-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073E-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894E-2f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459E-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201E-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_scalef_ps(y, n);
}
#endif

struct QAct {                // quantized activations of M rows
  int64_t nb;                // blocks per row
  std::vector<int8_t> q;     // M * nb * 32
  std::vector<float> a, s;   // M * nb: per-block scale, scaled sum
};

// One row's value k: x[k], or with ``swiglu`` (x holding [gate | up], 2K values) silu(gate[k]) * up[k].
template <typename T>
inline float row_value(const T* xr, int64_t k, int64_t K, bool swiglu) {
  if (!swiglu) return static_cast<float>(xr[k]);
  const float g = static_cast<float>(xr[k]);
  return g / (1.f + std::exp(-g)) * static_cast<float>(xr[K + k]);
}

// Quantize one block of 32 values v (already normalised) into qb; a: the scale, s: the scaled sum.
inline void quantize_block(const float* v, int8_t* qb, float& a, float& s) {
  float amax = 0.f;
  for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(v[j]));
  const float d = amax / 127.f;
  const float id = d != 0.f ? 1.f / d : 0.f;
  int sum = 0;
  for (int j = 0; j < QK; ++j) {
    // nearbyint: round half to even, as torch.round (the tests' reference)
    const int q = static_cast<int>(std::nearbyint(v[j] * id));
    qb[j] = static_cast<int8_t>(q);
    sum += q;
  }
  a = d;
  s = d * static_cast<float>(sum);
}

#if defined(__AVX512F__)
// The same for float rows, 16 values at a time: the same products and the same round-half-to-even
// (cvtps_epi32 under the default rounding mode), so the same bytes as quantize_block.
inline void quantize_block16(__m512 v0, __m512 v1, int8_t* qb, float& a, float& s) {
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const float d = amax / 127.f;
  const __m512 id = _mm512_set1_ps(d != 0.f ? 1.f / d : 0.f);
  const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id));
  const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qb), _mm512_cvtepi32_epi8(q0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qb + 16), _mm512_cvtepi32_epi8(q1));
  a = d;
  s = d * static_cast<float>(_mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1)));
}

// silu(g) * u for 16 floats, silu(g) = g / (1 + e^-g); e^-g clamped where it would overflow (silu -> 0)
inline __m512 swiglu16(const float* g, const float* u) {
  const __m512 gv = _mm512_loadu_ps(g);
  const __m512 e = exp16(_mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), gv), _mm512_set1_ps(88.f)));
  return _mm512_mul_ps(_mm512_div_ps(gv, _mm512_add_ps(e, _mm512_set1_ps(1.f))), _mm512_loadu_ps(u));
}
#endif

// Row r's K inputs start at x + r * ldx. With ``norm`` (the RMSNorm weight, K floats) each row is first
// RMS-normalised, x * (1 / sqrt(mean(x^2) + eps)) * norm, fused here instead of six torch ops before the
// call; with ``swiglu`` a row holds [gate | up] (ldx >= 2K) and its inputs are silu(gate) * up, fused here
// instead of three torch ops after the gate/up projection.
template <typename T>
void quantize_rows(const T* x, int64_t M, int64_t K, int64_t ldx, QAct& qa, const float* norm, float eps,
                   bool swiglu) {
  const int64_t nb = qa.nb;
  at::parallel_for(0, M, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * ldx;
      float scale = 1.f;
      if (norm != nullptr) {
        float ss = 0.f;
        for (int64_t k = 0; k < K; ++k) {
          const float v = row_value(xr, k, K, swiglu);
          ss += v * v;
        }
        scale = 1.f / std::sqrt(ss / static_cast<float>(K) + eps);
      }
      for (int64_t b = 0; b < nb; ++b) {
        int8_t* qb = qa.q.data() + (r * nb + b) * QK;
        float& a = qa.a[r * nb + b];
        float& s = qa.s[r * nb + b];
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>) {
          const float* xb = xr + b * QK;
          __m512 v0, v1;
          if (swiglu) {
            v0 = swiglu16(xb, xb + K);
            v1 = swiglu16(xb + 16, xb + K + 16);
          } else {
            v0 = _mm512_loadu_ps(xb);
            v1 = _mm512_loadu_ps(xb + 16);
          }
          if (norm != nullptr) {
            const __m512 sv = _mm512_set1_ps(scale);
            v0 = _mm512_mul_ps(_mm512_mul_ps(v0, sv), _mm512_loadu_ps(norm + b * QK));
            v1 = _mm512_mul_ps(_mm512_mul_ps(v1, sv), _mm512_loadu_ps(norm + b * QK + 16));
          }
          quantize_block16(v0, v1, qb, a, s);
          continue;
        }
#endif
        float v[QK];
        for (int j = 0; j < QK; ++j) {
          v[j] = row_value(xr, b * QK + j, K, swiglu);
          if (norm != nullptr) v[j] = v[j] * scale * norm[b * QK + j];
        }
        quantize_block(v, qb, a, s);
      }
    }
  });
}

inline float h2f(uint16_t h) { return static_cast<float>(c10::Half(h, c10::Half::from_bits())); }

// acc: add into y (a fused residual connection, y + W x) instead of overwriting it
template <typename OUT>
inline void store16(OUT* y, const float* v, int n, bool acc) {
  if (acc) {
    for (int i = 0; i < n; ++i) y[i] = static_cast<OUT>(static_cast<float>(y[i]) + v[i]);
  } else {
    for (int i = 0; i < n; ++i) y[i] = static_cast<OUT>(v[i]);
  }
}

// One tile (16 output features) for R rows starting at r0; writes y[(r0+r)*N + 16t + i], i < nvalid.
template <int BITS, int R, typename OUT>
inline void tile_rows(const uint8_t* w, const uint16_t* d, const uint16_t* m, int64_t nb, const QAct& qa, int64_t r0,
                      OUT* y, int64_t N, int64_t n0, int nvalid, bool acc) {
  constexpr int WB = BITS == 4 ? 256 : 512;  // weight bytes per (tile, block)
  float res[R][TILE];
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
  __m512 facc[R];
  for (int r = 0; r < R; ++r) facc[r] = _mm512_setzero_ps();
  const __m512i nib = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wb = w + b * WB;
    for (int l = 0; l < WB; l += 64) _mm_prefetch(reinterpret_cast<const char*>(wb + PREFETCH + l), _MM_HINT_T0);
    __m512i iacc[R];
    for (int r = 0; r < R; ++r) iacc[r] = _mm512_setzero_si512();
    const int8_t* arow[R];
    for (int r = 0; r < R; ++r) arow[r] = qa.q.data() + ((r0 + r) * nb + b) * QK;
    for (int g = 0; g < 8; ++g) {
      __m512i wv;
      if constexpr (BITS == 4) {
        const __m512i raw = _mm512_loadu_si512(wb + (g >> 1) * 64);
        wv = (g & 1) ? _mm512_and_si512(_mm512_srli_epi16(raw, 4), nib) : _mm512_and_si512(raw, nib);
      } else {
        wv = _mm512_loadu_si512(wb + g * 64);
      }
      for (int r = 0; r < R; ++r) {
        int32_t a4;
        std::memcpy(&a4, arow[r] + g * 4, 4);
        iacc[r] = _mm512_dpbusd_epi32(iacc[r], wv, _mm512_set1_epi32(a4));
      }
    }
    const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + b * TILE)));
    const __m512 mv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(m + b * TILE)));
    for (int r = 0; r < R; ++r) {
      const int64_t rb = (r0 + r) * nb + b;
      facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[r]), _mm512_mul_ps(dv, _mm512_set1_ps(qa.a[rb])), facc[r]);
      facc[r] = _mm512_fmadd_ps(mv, _mm512_set1_ps(qa.s[rb]), facc[r]);
    }
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(res[r], facc[r]);
#elif defined(__AVX2__) && defined(__FMA__)
  // two halves of 8 features; u8 x s8 products summed in pairs by maddubs (4-bit: at most 2*15*127,
  // no saturation); 8-bit weights are made signed again (q = byte ^ 0x80) and multiplied as |q| x
  // sign(a, q), which cannot saturate either, so their offset term m*s is skipped
  const __m256i nib = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int h = 0; h < 2; ++h) {
    __m256 facc[R];
    for (int r = 0; r < R; ++r) facc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* wb = w + b * WB + h * 32;
      __m256i iacc[R];
      for (int r = 0; r < R; ++r) iacc[r] = _mm256_setzero_si256();
      for (int g = 0; g < 8; ++g) {
        __m256i wv;
        if constexpr (BITS == 4) {
          const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + (g >> 1) * 64));
          wv = (g & 1) ? _mm256_and_si256(_mm256_srli_epi16(raw, 4), nib) : _mm256_and_si256(raw, nib);
        } else {
          wv = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + g * 64)), flip);
        }
        for (int r = 0; r < R; ++r) {
          int32_t a4;
          std::memcpy(&a4, qa.q.data() + ((r0 + r) * nb + b) * QK + g * 4, 4);
          const __m256i av = _mm256_set1_epi32(a4);
          __m256i p16;
          if constexpr (BITS == 4) p16 = _mm256_maddubs_epi16(wv, av);
          else p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(av, wv));
          iacc[r] = _mm256_add_epi32(iacc[r], _mm256_madd_epi16(p16, ones));
        }
      }
      const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d + b * TILE + h * 8)));
      const __m256 mv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(m + b * TILE + h * 8)));
      for (int r = 0; r < R; ++r) {
        const int64_t rb = (r0 + r) * nb + b;
        facc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iacc[r]), _mm256_mul_ps(dv, _mm256_set1_ps(qa.a[rb])), facc[r]);
        if constexpr (BITS == 4) facc[r] = _mm256_fmadd_ps(mv, _mm256_set1_ps(qa.s[rb]), facc[r]);
      }
    }
    for (int r = 0; r < R; ++r) _mm256_storeu_ps(res[r] + h * 8, facc[r]);
  }
#else
  for (int r = 0; r < R; ++r) {
    for (int i = 0; i < TILE; ++i) {
      float acc = 0.f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* wb = w + b * WB;
        const int8_t* ab = qa.q.data() + ((r0 + r) * nb + b) * QK;
        int32_t isum = 0;
        for (int k = 0; k < QK; ++k) {
          const int g = k / 4, t4 = k % 4;
          int q;
          if constexpr (BITS == 4) {
            const uint8_t byte = wb[(g >> 1) * 64 + i * 4 + t4];
            q = (g & 1) ? (byte >> 4) : (byte & 0x0F);
          } else {
            q = wb[g * 64 + i * 4 + t4];
          }
          isum += q * ab[k];
        }
        const int64_t rb = (r0 + r) * nb + b;
        acc += h2f(d[b * TILE + i]) * qa.a[rb] * static_cast<float>(isum) + h2f(m[b * TILE + i]) * qa.s[rb];
      }
      res[r][i] = acc;
    }
  }
#endif
  for (int r = 0; r < R; ++r) store16(y + (r0 + r) * N + n0, res[r], nvalid, acc);
}

template <int BITS, typename OUT>
void run_rows(int R, const uint8_t* w, const uint16_t* d, const uint16_t* m, int64_t nb, const QAct& qa, int64_t r0,
              OUT* y, int64_t N, int64_t n0, int nvalid, bool acc) {
  switch (R) {
#define CASE(k) case k: tile_rows<BITS, k, OUT>(w, d, m, nb, qa, r0, y, N, n0, nvalid, acc); break;
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7)
    default: tile_rows<BITS, 8, OUT>(w, d, m, nb, qa, r0, y, N, n0, nvalid, acc); break;
#undef CASE
  }
}

template <typename OUT>
void run(const uint8_t* wp, const uint16_t* dp, const uint16_t* mp, int64_t tiles, int64_t nb, int64_t bits,
         const QAct& qa, int64_t M, OUT* y, int64_t N, bool acc) {
  const int64_t wtile = nb * (bits == 4 ? 256 : 512);
  // grain: 4 tiles (64 features) per task at least, so a task's weights amortise the dispatch
  at::parallel_for(0, tiles, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int nvalid = static_cast<int>(std::min<int64_t>(TILE, N - t * TILE));
      for (int64_t r0 = 0; r0 < M; r0 += ROWCHUNK) {
        const int R = static_cast<int>(std::min<int64_t>(ROWCHUNK, M - r0));
        if (bits == 4) run_rows<4, OUT>(R, wp + t * wtile, dp + t * nb * TILE, mp + t * nb * TILE, nb, qa, r0, y, N,
                                        t * TILE, nvalid, acc);
        else run_rows<8, OUT>(R, wp + t * wtile, dp + t * nb * TILE, mp + t * nb * TILE, nb, qa, r0, y, N,
                              t * TILE, nvalid, acc);
      }
    }
  });
}

}  // namespace

// x: (M, K) float32 or bfloat16, K = 32 * nb (with swiglu: (M, 2K), [gate | up], the inputs silu(gate) * up);
// w, d, m packed as described above; n: out_features. Returns (M, n) in x's dtype; with ``out`` (M, n) in
// x's dtype, contiguous, adds the result into it and returns it (a residual connection fused).
torch::Tensor blockq_linear(torch::Tensor x, torch::Tensor w, torch::Tensor d, torch::Tensor m, int64_t bits,
                            int64_t n, std::optional<torch::Tensor> norm, double eps, bool swiglu,
                            std::optional<torch::Tensor> out) {
  TORCH_CHECK(bits == 4 || bits == 8, "blockq_linear: bits must be 4 or 8");
  TORCH_CHECK(x.dim() == 2, "blockq_linear: x must be 2-D (rows, in_features)");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16,
              "blockq_linear: x must be float32 or bfloat16");
  TORCH_CHECK(w.scalar_type() == at::kByte && d.scalar_type() == at::kHalf && m.scalar_type() == at::kHalf,
              "blockq_linear: w must be uint8, d and m float16");
  TORCH_CHECK(w.dim() == 2 && d.dim() == 2 && w.is_contiguous() && d.is_contiguous() && m.is_contiguous(),
              "blockq_linear: weights must be contiguous 2-D tensors");
  TORCH_CHECK(x.device().is_cpu() && w.device().is_cpu(), "blockq_linear: CPU tensors only");
  const int64_t tiles = w.size(0);
  TORCH_CHECK(d.size(0) == tiles && m.sizes() == d.sizes() && d.size(1) % TILE == 0, "blockq_linear: d/m shape");
  const int64_t nb = d.size(1) / TILE;
  TORCH_CHECK(w.size(1) == nb * (bits == 4 ? 256 : 512), "blockq_linear: w shape");
  TORCH_CHECK(n > (tiles - 1) * TILE && n <= tiles * TILE, "blockq_linear: n does not match the tiles");
  const int64_t K = nb * QK;
  const int64_t ldx = x.size(1);
  TORCH_CHECK(ldx == (swiglu ? 2 * K : K), "blockq_linear: x has ", ldx, " features, the weight expects ",
              swiglu ? 2 * K : K, swiglu ? " (gate and up)" : "");
  TORCH_CHECK(!(swiglu && norm.has_value()), "blockq_linear: norm and swiglu cannot be combined");
  const float* np = nullptr;
  if (norm.has_value()) {
    TORCH_CHECK(norm->scalar_type() == at::kFloat && norm->is_contiguous() && norm->numel() == K,
                "blockq_linear: norm must be ", K, " contiguous float32 values");
    np = norm->data_ptr<float>();
  }
  auto xc = x.contiguous();
  const int64_t M = xc.size(0);
  torch::Tensor y;
  if (out.has_value()) {
    TORCH_CHECK(out->scalar_type() == x.scalar_type() && out->is_contiguous() && out->dim() == 2 &&
                    out->size(0) == M && out->size(1) == n,
                "blockq_linear: out must be a contiguous (", M, ", ", n, ") tensor of x's dtype");
    TORCH_CHECK(!out->is_same(xc), "blockq_linear: out cannot be the input");
    y = *out;
  } else {
    y = torch::empty({M, n}, x.options());
  }
  if (M == 0) return y;
  QAct qa;
  qa.nb = nb;
  qa.q.resize(M * nb * QK);
  qa.a.resize(M * nb);
  qa.s.resize(M * nb);
  const uint8_t* wp = w.data_ptr<uint8_t>();
  const uint16_t* dp = reinterpret_cast<const uint16_t*>(d.data_ptr<at::Half>());
  const uint16_t* mp = reinterpret_cast<const uint16_t*>(m.data_ptr<at::Half>());
  const bool acc = out.has_value();
  if (xc.scalar_type() == at::kFloat) {
    quantize_rows(xc.data_ptr<float>(), M, K, ldx, qa, np, static_cast<float>(eps), swiglu);
    run(wp, dp, mp, tiles, nb, bits, qa, M, y.data_ptr<float>(), n, acc);
  } else {
    quantize_rows(xc.data_ptr<at::BFloat16>(), M, K, ldx, qa, np, static_cast<float>(eps), swiglu);
    run(wp, dp, mp, tiles, nb, bits, qa, M, y.data_ptr<at::BFloat16>(), n, acc);
  }
  return y;
}

// Decode attention over a KV slab, one new token per row, with that token's K/V written first.
// q: (n, nkv*g, hd) float32; knew, vnew: (n, nkv, hd) float32; kl, vl: one layer of a slab,
// (S, nkv, cap, hd) float32 or float16 (the K/V dtype: float16 halves the bytes a step reads, as
// llama.cpp's default f16 cache) with hd contiguous; row r writes its K/V (rounded to nearest even,
// as torch's conversion) at kl[slot[r], :, pos[r]] and attends over positions 0..pos[r] of its own
// slot (the g query heads of a KV head share its keys), accumulating in float32.
// Each (row, KV head) is one task computed start to end on one thread: a row's result does not
// depend on the other rows of the call. Returns (n, nkv*g, hd) float32. Hand-written because torch's
// fused CPU attention costs ~50 us of dispatch per call, more than the work of a one-token query, and
// its float16 path is slower than its float32 one.
namespace {
template <typename KV>
inline float kv_at(const KV* p, int64_t i) { return static_cast<float>(p[i]); }

#if defined(__AVX512F__)
inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load16(const c10::Half* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
#endif

template <typename KV>
inline float dot_hd(const float* a, const KV* b, int64_t hd) {
#if defined(__AVX512F__)
  if (hd % 16 == 0) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < hd; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), load16(b + i), acc);
    return _mm512_reduce_add_ps(acc);
  }
#endif
  float s = 0.f;
  for (int64_t i = 0; i < hd; ++i) s += a[i] * kv_at(b, i);
  return s;
}

template <typename KV>
inline void axpy_hd(float* y, float a, const KV* x, int64_t hd) {
#if defined(__AVX512F__)
  if (hd % 16 == 0) {
    const __m512 av = _mm512_set1_ps(a);
    for (int64_t i = 0; i < hd; i += 16)
      _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, load16(x + i), _mm512_loadu_ps(y + i)));
    return;
  }
#endif
  for (int64_t i = 0; i < hd; ++i) y[i] += a * kv_at(x, i);
}


// p[0..len) = exp(p - max(p)); returns 1 / sum.
inline float softmax_inplace(float* p, int64_t len) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < len; ++j) mx = std::max(mx, p[j]);
  float sum = 0.f;
  int64_t j = 0;
#if defined(__AVX512F__)
  const __m512 mv = _mm512_set1_ps(mx);
  __m512 acc = _mm512_setzero_ps();
  for (; j + 16 <= len; j += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(p + j), mv));
    _mm512_storeu_ps(p + j, e);
    acc = _mm512_add_ps(acc, e);
  }
  sum = _mm512_reduce_add_ps(acc);
#endif
  for (; j < len; ++j) {
    p[j] = std::exp(p[j] - mx);
    sum += p[j];
  }
  return 1.f / sum;
}

#if defined(__AVX512F__)
// hd = 64 and G <= 4 query heads per KV head (SmolLM2: 64 and 3): the G queries and the G output rows
// stay in registers while the keys and values stream past once.
template <int G, typename KV>
void qk64(const float* qv, const KV* kb, int64_t ks2, int64_t len, float scale, float* p) {
  __m512 q[G][4];
  for (int gi = 0; gi < G; ++gi)
    for (int c = 0; c < 4; ++c) q[gi][c] = _mm512_loadu_ps(qv + gi * 64 + c * 16);
  for (int64_t j = 0; j < len; ++j) {
    const KV* kj = kb + j * ks2;
    const __m512 k0 = load16(kj), k1 = load16(kj + 16), k2 = load16(kj + 32), k3 = load16(kj + 48);
    for (int gi = 0; gi < G; ++gi) {
      __m512 a = _mm512_mul_ps(q[gi][0], k0);
      a = _mm512_fmadd_ps(q[gi][1], k1, a);
      a = _mm512_fmadd_ps(q[gi][2], k2, a);
      a = _mm512_fmadd_ps(q[gi][3], k3, a);
      p[gi * len + j] = _mm512_reduce_add_ps(a) * scale;
    }
  }
}

template <int G, typename KV>
void pv64(const float* p, const float* inv, const KV* vb, int64_t vs2, int64_t len, float* o) {
  __m512 acc[G][4];
  for (int gi = 0; gi < G; ++gi)
    for (int c = 0; c < 4; ++c) acc[gi][c] = _mm512_setzero_ps();
  for (int64_t j = 0; j < len; ++j) {
    const KV* vj = vb + j * vs2;
    const __m512 v0 = load16(vj), v1 = load16(vj + 16), v2 = load16(vj + 32), v3 = load16(vj + 48);
    for (int gi = 0; gi < G; ++gi) {
      const __m512 w = _mm512_set1_ps(p[gi * len + j]);
      acc[gi][0] = _mm512_fmadd_ps(w, v0, acc[gi][0]);
      acc[gi][1] = _mm512_fmadd_ps(w, v1, acc[gi][1]);
      acc[gi][2] = _mm512_fmadd_ps(w, v2, acc[gi][2]);
      acc[gi][3] = _mm512_fmadd_ps(w, v3, acc[gi][3]);
    }
  }
  for (int gi = 0; gi < G; ++gi)
    for (int c = 0; c < 4; ++c) _mm512_storeu_ps(o + gi * 64 + c * 16, _mm512_mul_ps(acc[gi][c], _mm512_set1_ps(inv[gi])));
}

template <int G, typename KV>
void head64(const float* qv, const KV* kb, const KV* vb, int64_t ks2, int64_t vs2, int64_t len, float scale, float* p,
            float* inv, float* o) {
  qk64<G>(qv, kb, ks2, len, scale, p);
  for (int gi = 0; gi < G; ++gi) inv[gi] = softmax_inplace(p + gi * len, len);
  pv64<G>(p, inv, vb, vs2, len, o);
}
#endif

// The row/head layout of q, knew, vnew: element (r, h, i) at p[r * row + h * hd + i].
struct Rows {
  const float* p;
  int64_t row;
};

// RoPE on one head: out[i] = x[i] * cos[i] + x[(i + hd/2) % hd] * sin_signed[i] (the model's rotate-half
// form, as Transformer._rope: x * cos + roll(x, hd/2) * sin_signed).
inline void rope_head(const float* x, const float* cos, const float* sin_s, int64_t hd, float* out) {
  const int64_t half = hd / 2;
  for (int64_t i = 0; i < hd; ++i) out[i] = x[i] * cos[i] + x[i < half ? i + half : i - half] * sin_s[i];
}

template <typename KV>
void attend_rows(Rows Q, Rows KN, Rows VN, const float* COS, const float* SIN, KV* K, KV* V, const int64_t* sp,
                 const int64_t* pp, int64_t n, int64_t nkv, int64_t g, int64_t hd, int64_t ks0, int64_t ks1,
                 int64_t ks2, int64_t vs0, int64_t vs1, int64_t vs2, float scale, float* O) {
  at::parallel_for(0, n * nkv, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> p, inv(g), qbuf(g * hd), kbuf(hd);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r = t / nkv, h = t % nkv, s = sp[r], len = pp[r] + 1;
      KV* kb = K + s * ks0 + h * ks1;
      KV* vb = V + s * vs0 + h * vs1;
      const float* qv = Q.p + r * Q.row + h * g * hd;  // the g query heads of KV head h, consecutive
      const float* kn = KN.p + r * KN.row + h * hd;
      if (COS != nullptr) {  // RoPE at the row's position, fused here instead of six torch ops per layer
        const float* c = COS + r * hd;
        const float* sn = SIN + r * hd;
        for (int64_t gi = 0; gi < g; ++gi) rope_head(qv + gi * hd, c, sn, hd, qbuf.data() + gi * hd);
        rope_head(kn, c, sn, hd, kbuf.data());
        qv = qbuf.data();
        kn = kbuf.data();
      }
      const float* vn = VN.p + r * VN.row + h * hd;
      for (int64_t i = 0; i < hd; ++i) {
        kb[pp[r] * ks2 + i] = static_cast<KV>(kn[i]);
        vb[pp[r] * vs2 + i] = static_cast<KV>(vn[i]);
      }
      p.resize(g * len);
      float* o = O + (r * nkv * g + h * g) * hd;
#if defined(__AVX512F__)
      if (hd == 64 && g >= 1 && g <= 4) {
        switch (g) {
          case 1: head64<1>(qv, kb, vb, ks2, vs2, len, scale, p.data(), inv.data(), o); break;
          case 2: head64<2>(qv, kb, vb, ks2, vs2, len, scale, p.data(), inv.data(), o); break;
          case 3: head64<3>(qv, kb, vb, ks2, vs2, len, scale, p.data(), inv.data(), o); break;
          default: head64<4>(qv, kb, vb, ks2, vs2, len, scale, p.data(), inv.data(), o); break;
        }
        continue;
      }
#endif
      for (int64_t j = 0; j < len; ++j) {  // each key read once for the g queries
        const KV* kj = kb + j * ks2;
        for (int64_t gi = 0; gi < g; ++gi) p[gi * len + j] = dot_hd(qv + gi * hd, kj, hd) * scale;
      }
      for (int64_t gi = 0; gi < g; ++gi) inv[gi] = softmax_inplace(p.data() + gi * len, len);
      std::fill(o, o + g * hd, 0.f);
      for (int64_t j = 0; j < len; ++j) {  // each value read once for the g queries
        const KV* vj = vb + j * vs2;
        for (int64_t gi = 0; gi < g; ++gi) axpy_hd(o + gi * hd, p[gi * len + j], vj, hd);
      }
      for (int64_t gi = 0; gi < g; ++gi)
        for (int64_t i = 0; i < hd; ++i) o[gi * hd + i] *= inv[gi];
    }
  });
}
}  // namespace

// q: (n, nkv*g, hd), knew, vnew: (n, nkv, hd), float32, each with its heads and values contiguous (any row
// stride: views of one fused QKV projection's output need no copy). With cos and sin_signed ((n, hd)
// float32, the RoPE tables at each row's position), q and knew are rotated first, as Transformer._rope.
torch::Tensor decode_attention(torch::Tensor q, torch::Tensor knew, torch::Tensor vnew, torch::Tensor kl,
                               torch::Tensor vl, torch::Tensor slots, torch::Tensor pos, double scale,
                               std::optional<torch::Tensor> cos, std::optional<torch::Tensor> sin_signed) {
  TORCH_CHECK(q.scalar_type() == at::kFloat && knew.scalar_type() == at::kFloat && vnew.scalar_type() == at::kFloat,
              "decode_attention: q, knew and vnew must be float32");
  TORCH_CHECK((kl.scalar_type() == at::kFloat || kl.scalar_type() == at::kHalf) && vl.scalar_type() == kl.scalar_type(),
              "decode_attention: the K/V slab must be float32 or float16");
  TORCH_CHECK(q.dim() == 3 && knew.dim() == 3 && vnew.dim() == 3 && kl.dim() == 4 && vl.dim() == 4,
              "decode_attention: q, knew, vnew are 3-D, kl, vl 4-D");
  TORCH_CHECK(slots.scalar_type() == at::kLong && pos.scalar_type() == at::kLong, "decode_attention: int64 indices");
  TORCH_CHECK(q.device().is_cpu() && kl.device().is_cpu(), "decode_attention: CPU tensors only");
  const int64_t n = q.size(0), hd = q.size(2), nkv = kl.size(1), cap = kl.size(2), S = kl.size(0);
  TORCH_CHECK(q.size(1) % nkv == 0, "decode_attention: query heads must be a multiple of the KV heads");
  const int64_t g = q.size(1) / nkv;
  TORCH_CHECK(knew.size(0) == n && knew.size(1) == nkv && knew.size(2) == hd && vnew.sizes() == knew.sizes(),
              "decode_attention: knew/vnew shape");
  TORCH_CHECK(kl.size(3) == hd && vl.sizes() == kl.sizes() && kl.stride(3) == 1 && vl.stride(3) == 1,
              "decode_attention: kl/vl shape, or hd not contiguous");
  TORCH_CHECK(slots.numel() == n && pos.numel() == n, "decode_attention: one slot and position per row");
  TORCH_CHECK(cos.has_value() == sin_signed.has_value(), "decode_attention: cos and sin_signed go together");
  // rows may be strided; heads and values within a row must be contiguous
  auto rows = [](const torch::Tensor& t) {
    return (t.stride(2) == 1 && t.stride(1) == t.size(2)) ? t : t.contiguous();
  };
  auto qc = rows(q), kc = rows(knew), vc = rows(vnew);
  auto sc = slots.contiguous(), pc = pos.contiguous();
  const int64_t* sp = sc.data_ptr<int64_t>();
  const int64_t* pp = pc.data_ptr<int64_t>();
  for (int64_t r = 0; r < n; ++r)
    TORCH_CHECK(sp[r] >= 0 && sp[r] < S && pp[r] >= 0 && pp[r] < cap, "decode_attention: slot or position out of range");
  torch::Tensor cc, snc;
  const float* cp = nullptr;
  const float* snp = nullptr;
  if (cos.has_value()) {
    TORCH_CHECK(cos->scalar_type() == at::kFloat && sin_signed->scalar_type() == at::kFloat && cos->dim() == 2 &&
                    cos->size(0) == n && cos->size(1) == hd && sin_signed->sizes() == cos->sizes(),
                "decode_attention: cos and sin_signed must be (n, hd) float32");
    cc = cos->contiguous();
    snc = sin_signed->contiguous();
    cp = cc.data_ptr<float>();
    snp = snc.data_ptr<float>();
  }
  auto out = torch::empty({n, nkv * g, hd}, q.options().memory_format(at::MemoryFormat::Contiguous));
  const Rows Q{qc.data_ptr<float>(), qc.stride(0)}, KN{kc.data_ptr<float>(), kc.stride(0)},
      VN{vc.data_ptr<float>(), vc.stride(0)};
  if (kl.scalar_type() == at::kFloat)
    attend_rows(Q, KN, VN, cp, snp, kl.data_ptr<float>(), vl.data_ptr<float>(), sp, pp, n, nkv, g, hd, kl.stride(0),
                kl.stride(1), kl.stride(2), vl.stride(0), vl.stride(1), vl.stride(2), static_cast<float>(scale),
                out.data_ptr<float>());
  else
    attend_rows(Q, KN, VN, cp, snp, kl.data_ptr<at::Half>(), vl.data_ptr<at::Half>(), sp, pp, n, nkv, g, hd,
                kl.stride(0), kl.stride(1), kl.stride(2), vl.stride(0), vl.stride(1), vl.stride(2),
                static_cast<float>(scale), out.data_ptr<float>());
  return out;
}

// A prefill chunk's fused QKV projection output qkv (T, (nh + 2 nkv) * hd) float32, rows at positions
// start..start+T-1: RoPE (cos, sin_signed: (T, hd) float32 at those positions) on the q and k heads, the
// rotated k and the v heads written into one layer of the KV cache (kl, vl: (nkv, cap, hd), float32 or
// float16, hd contiguous) at those positions, and the rotated q returned as (nh, T, hd) float32 (the
// layout attention takes). One pass instead of the ten torch ops it replaces per layer; the same RoPE
// code as decode_attention, so a token's K is the same bits whether prefill or decode wrote it.
namespace {
template <typename KV>
void rope_rows(const float* X, int64_t W, const float* COS, const float* SIN, int64_t T, int64_t nh, int64_t nkv,
               int64_t hd, KV* K, KV* V, int64_t ks0, int64_t ks1, int64_t vs0, int64_t vs1, int64_t start, float* Q) {
  at::parallel_for(0, T, 8, [&](int64_t t0, int64_t t1) {
    std::vector<float> kbuf(hd);
    for (int64_t t = t0; t < t1; ++t) {
      const float* row = X + t * W;
      const float* c = COS + t * hd;
      const float* sn = SIN + t * hd;
      for (int64_t h = 0; h < nh; ++h) rope_head(row + h * hd, c, sn, hd, Q + (h * T + t) * hd);
      for (int64_t h = 0; h < nkv; ++h) {
        rope_head(row + (nh + h) * hd, c, sn, hd, kbuf.data());
        KV* kd = K + h * ks0 + (start + t) * ks1;
        KV* vd = V + h * vs0 + (start + t) * vs1;
        const float* vs = row + (nh + nkv + h) * hd;
        for (int64_t i = 0; i < hd; ++i) {
          kd[i] = static_cast<KV>(kbuf[i]);
          vd[i] = static_cast<KV>(vs[i]);
        }
      }
    }
  });
}
}  // namespace

torch::Tensor rope_qkv(torch::Tensor qkv, torch::Tensor cos, torch::Tensor sin_signed, int64_t nh, int64_t nkv,
                       torch::Tensor kl, torch::Tensor vl, int64_t start) {
  TORCH_CHECK(qkv.scalar_type() == at::kFloat && qkv.dim() == 2 && qkv.device().is_cpu(),
              "rope_qkv: qkv must be a 2-D float32 CPU tensor");
  TORCH_CHECK(cos.scalar_type() == at::kFloat && cos.dim() == 2 && sin_signed.sizes() == cos.sizes() &&
                  sin_signed.scalar_type() == at::kFloat && cos.size(0) == qkv.size(0),
              "rope_qkv: cos and sin_signed must be (T, hd) float32");
  const int64_t T = qkv.size(0), hd = cos.size(1);
  TORCH_CHECK(nh > 0 && nkv > 0 && qkv.size(1) == (nh + 2 * nkv) * hd, "rope_qkv: qkv must have (nh + 2 nkv) * hd columns");
  TORCH_CHECK((kl.scalar_type() == at::kFloat || kl.scalar_type() == at::kHalf) && vl.scalar_type() == kl.scalar_type(),
              "rope_qkv: the K/V cache must be float32 or float16");
  TORCH_CHECK(kl.dim() == 3 && vl.sizes() == kl.sizes() && kl.size(0) == nkv && kl.size(2) == hd &&
                  kl.stride(2) == 1 && vl.stride(2) == 1,
              "rope_qkv: kl/vl must be (nkv, capacity, hd) with hd contiguous");
  TORCH_CHECK(start >= 0 && start + T <= kl.size(1), "rope_qkv: positions past the cache's capacity");
  auto xc = qkv.contiguous(), cc = cos.contiguous(), sc = sin_signed.contiguous();
  auto q = torch::empty({nh, T, hd}, qkv.options());
  if (T == 0) return q;
  if (kl.scalar_type() == at::kFloat)
    rope_rows(xc.data_ptr<float>(), xc.size(1), cc.data_ptr<float>(), sc.data_ptr<float>(), T, nh, nkv, hd,
              kl.data_ptr<float>(), vl.data_ptr<float>(), kl.stride(0), kl.stride(1), vl.stride(0), vl.stride(1),
              start, q.data_ptr<float>());
  else
    rope_rows(xc.data_ptr<float>(), xc.size(1), cc.data_ptr<float>(), sc.data_ptr<float>(), T, nh, nkv, hd,
              kl.data_ptr<at::Half>(), vl.data_ptr<at::Half>(), kl.stride(0), kl.stride(1), vl.stride(0),
              vl.stride(1), start, q.data_ptr<float>());
  return q;
}

// The index of each row's largest value, as torch.argmax: the first maximum, or the first NaN where a row
// has one. x: (B, V) float32. Hand-written because torch's argmax over a (8, 49152) float tensor takes
// ~175 us on 2 CPU threads, longer than the rest of a decode step's sampling.
namespace {
int64_t argmax_row(const float* x, int64_t V) {
  float mx = -INFINITY;
  int64_t i = 0;
  bool nan = false;
#if defined(__AVX512F__)
  __m512 mv = _mm512_set1_ps(-INFINITY);
  __mmask16 un = 0;
  for (; i + 16 <= V; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    un |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    mv = _mm512_max_ps(mv, v);
  }
  nan = un != 0;
  if (!nan) mx = _mm512_reduce_max_ps(mv);
#endif
  for (; i < V && !nan; ++i) {
    nan = std::isnan(x[i]);
    mx = std::max(mx, x[i]);
  }
  for (int64_t j = 0; j < V; ++j)
    if (nan ? std::isnan(x[j]) : x[j] == mx) return j;
  return 0;
}
}  // namespace

torch::Tensor argmax_rows(torch::Tensor x) {
  TORCH_CHECK(x.scalar_type() == at::kFloat && x.dim() == 2 && x.device().is_cpu(),
              "argmax_rows: x must be a 2-D float32 CPU tensor");
  TORCH_CHECK(x.size(1) > 0, "argmax_rows: rows must not be empty");
  auto xc = x.contiguous();
  const int64_t B = xc.size(0), V = xc.size(1);
  auto out = torch::empty({B}, x.options().dtype(at::kLong));
  const float* xp = xc.data_ptr<float>();
  int64_t* op = out.data_ptr<int64_t>();
  at::parallel_for(0, B, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) op[r] = argmax_row(xp + r * V, V);
  });
  return out;
}

std::string isa() {
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
  return "avx512vnni";
#elif defined(__AVX2__) && defined(__FMA__)
  return "avx2";
#else
  return "scalar";
#endif
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, mod) {
  mod.def("blockq_linear", &blockq_linear, "block-quantized linear (Q4_1/Q8_0 weights x Q8_1 activations)",
          pybind11::arg("x"), pybind11::arg("w"), pybind11::arg("d"), pybind11::arg("m"), pybind11::arg("bits"),
          pybind11::arg("n"), pybind11::arg("norm") = pybind11::none(), pybind11::arg("eps") = 0.0,
          pybind11::arg("swiglu") = false, pybind11::arg("out") = pybind11::none());
  mod.def("decode_attention", &decode_attention, "one-token attention over a KV slab, new K/V written first",
          pybind11::arg("q"), pybind11::arg("knew"), pybind11::arg("vnew"), pybind11::arg("kl"), pybind11::arg("vl"),
          pybind11::arg("slots"), pybind11::arg("pos"), pybind11::arg("scale"), pybind11::arg("cos") = pybind11::none(),
          pybind11::arg("sin_signed") = pybind11::none());
  mod.def("rope_qkv", &rope_qkv, "a prefill chunk's RoPE and K/V cache write, the rotated q returned",
          pybind11::arg("qkv"), pybind11::arg("cos"), pybind11::arg("sin_signed"), pybind11::arg("nh"),
          pybind11::arg("nkv"), pybind11::arg("kl"), pybind11::arg("vl"), pybind11::arg("start"));
  mod.def("argmax_rows", &argmax_rows, "each row's argmax (the first maximum; the first NaN if any)",
          pybind11::arg("x"));
  mod.def("isa", &isa, "the instruction set this build uses");
}
