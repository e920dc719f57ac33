// Host loops compiled twice, for the x86-64 baseline and for x86-64-v4
// (AVX-512), the loader picking the clone the CPU runs (GCC's target_clones).
// The project builds for the baseline, where the dropout hash's 64-bit
// multiplies and the other loops stay scalar or 4-wide: keras-cnn's dropout
// mask over 1.2 M elements takes 4.0 ms baseline, 0.17 ms AVX-512; ReLU's
// gradient 0.15 -> 0.07 ms (AMD EPYC, 1 thread). Both clones compute bitwise
// the same: the kernels library is built with -ffp-contract=off, so no
// multiply-add is fused on either (test_shared_maths, test_onednn_vs_reference
// check against the reference, bitwise where the loops promise it).
//
// A cloned function must do its work inside its own body: helpers it calls
// are compiled for the baseline, and vector-typed values must not cross a
// call (the ABI of 32-byte vectors differs between the clones).
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define HPCNN_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define HPCNN_CPU_CLONES
#endif
