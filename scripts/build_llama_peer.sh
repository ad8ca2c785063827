#!/usr/bin/env bash
# Build the llama.cpp peer for bench/ (never used by promptc or its tests): one cmake build of the
# llama.cpp tree that llama-cpp-python's sdist vendors gives both the shared libraries the
# llama-cpp-python package loads and the `llama-server` binary, so it compiles once.
#
#   scripts/build_llama_peer.sh            # build (or reuse) .bench/llama/
#   eval "$(scripts/build_llama_peer.sh --env)"   # PYTHONPATH / LLAMA_SERVER for a shell
#
# Output (ignored by git, reused while the version and flags are unchanged):
#   .bench/llama/python/llama_cpp/        the Python package, its lib/ holding libllama.so & co.
#   .bench/llama/python/diskcache/        its one dependency the project venv lacks
#   .bench/llama/bin/llama-server         the end-to-end peer
#   .bench/llama/STAMP                    version + cmake flags of the build above
# bench/serving.py and bench/engine_acceptance.py put .bench/llama/python on sys.path when
# llama_cpp is not importable otherwise.
#
# CPU flags are explicit, not GGML_NATIVE: a -march=native build copied to (or cached for) a
# different CPU dies with SIGILL (rc 132), which is what the last session's native build did.
# The defaults suit x86-64 with AVX-512 (VNNI, BF16, VBMI); override with LLAMA_PEER_CPU_FLAGS.
set -euo pipefail

VERSION="${LLAMA_PEER_VERSION:-0.3.36}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/.bench/llama"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
JOBS="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"

if [ "${1:-}" = "--env" ]; then
    echo "export PYTHONPATH=\"$OUT/python\${PYTHONPATH:+:\$PYTHONPATH}\""
    echo "export LLAMA_SERVER=\"$OUT/bin/llama-server\""
    exit 0
fi

default_cpu_flags() {
    local f="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
    local flags
    flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)"
    case "$flags" in *" avx512f "*) f="$f -DGGML_AVX512=ON" ;; esac
    case "$flags" in *" avx512_vnni "*) f="$f -DGGML_AVX512_VNNI=ON" ;; esac
    case "$flags" in *" avx512_bf16 "*) f="$f -DGGML_AVX512_BF16=ON" ;; esac
    case "$flags" in *" avx512vbmi "*) f="$f -DGGML_AVX512_VBMI=ON" ;; esac
    # AMX needs the kernel's arch_prctl(ARCH_REQ_XCOMP_PERM) grant; keep it off for a portable peer
    echo "$f -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
}
CPU_FLAGS="${LLAMA_PEER_CPU_FLAGS:-$(default_cpu_flags)}"
# OpenMP off: ggml's own thread pool, so the library shares no libgomp state with torch in one process
CMAKE_FLAGS="-G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON $CPU_FLAGS -DGGML_OPENMP=OFF \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
-DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON"
STAMP="llama-cpp-python $VERSION | $CMAKE_FLAGS"

if [ -f "$OUT/STAMP" ] && [ "$(cat "$OUT/STAMP")" = "$STAMP" ] && [ -x "$OUT/bin/llama-server" ] \
    && [ -f "$OUT/python/llama_cpp/lib/libllama.so" ]; then
    echo "llama peer up to date in $OUT"
    exit 0
fi

mkdir -p "$OUT/src"
SDIST="$OUT/src/llama_cpp_python-$VERSION.tar.gz"
if [ ! -f "$SDIST" ]; then
    "$PY" -m pip download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$OUT/src"
fi
SRC="$OUT/src/llama_cpp_python-$VERSION"
[ -d "$SRC" ] || tar -xzf "$SDIST" -C "$OUT/src"

BUILD="$OUT/build"
# shellcheck disable=SC2086  # CMAKE_FLAGS is a word list on purpose
cmake -S "$SRC/vendor/llama.cpp" -B "$BUILD" $CMAKE_FLAGS
# the library the Python peer loads first (the decode and TTFT rows), then the server (the end-to-end row)
nice -n 19 cmake --build "$BUILD" --target llama -j "$JOBS"
nice -n 19 cmake --build "$BUILD" --target llama-server mtmd -j "$JOBS"

rm -rf "$OUT/python" "$OUT/bin"
mkdir -p "$OUT/python" "$OUT/bin"
cp -r "$SRC/llama_cpp" "$OUT/python/llama_cpp"
mkdir -p "$OUT/python/llama_cpp/lib"
cp -P "$BUILD"/bin/lib*.so* "$OUT/python/llama_cpp/lib/"  # llama.cpp puts every shared library in bin/
cp "$BUILD/bin/llama-server" "$OUT/bin/llama-server"
# the server finds its libraries next to the package's (rpath $ORIGIN -> bin/, so point bin at lib)
for lib in "$OUT/python/llama_cpp/lib/"lib*.so*; do ln -sf "$lib" "$OUT/bin/$(basename "$lib")"; done
"$PY" -m pip install --quiet --no-deps --target "$OUT/python" "diskcache==5.6.3"
echo "$STAMP" > "$OUT/STAMP"
"$OUT/bin/llama-server" --version 2>&1 | tail -2
PYTHONPATH="$OUT/python" "$PY" -c "import llama_cpp; print('llama_cpp', llama_cpp.__version__, 'loads')"
echo "llama peer built in $OUT"
