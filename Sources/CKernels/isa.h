#ifndef CKERNELS_ISA_H
#define CKERNELS_ISA_H

// The instruction-set level the kernels dispatch on: 2 AVX-512, 1 AVX2+FMA, 0 baseline; the
// lower of what the CPU supports and the cap set by CKernels_limit_isa.
int CKernels_isa(void);

// What the CPU supports, whatever the cap.
int CKernels_supported_isa(void);

#endif
