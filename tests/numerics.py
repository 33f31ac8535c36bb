"""Numerical conditions that differ between replicators' machines and can be set here.

The OpenBLAS kernel family (Prescott is the oldest x86-64 one, without AVX), its thread
count, and numpy's runtime SIMD dispatch (X86_V3 = AVX2/FMA, X86_V4 and up =
AVX-512). Tests run the package under these and compare with the committed files.
"""

OTHER_NUMERICS = {
    "OPENBLAS_CORETYPE": "Prescott",
    "OPENBLAS_NUM_THREADS": "1",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
}
# A second variation: a recent kernel family with two threads.
HASWELL_TWO_THREADS = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "2"}
