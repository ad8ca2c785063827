"""The compiler: resolve → check → render → align → hash → emit."""
