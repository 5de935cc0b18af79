#ifndef CKERNELS_ISA_H
#define CKERNELS_ISA_H

// The level a kernel dispatches on: the `isa` its caller asked for, lowered to what the CPU
// supports (CKernels_isa) and raised to 0.
int CKernels_usable_isa(int isa);

#endif
