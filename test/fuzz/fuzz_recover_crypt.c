/* SPDX-License-Identifier: MIT */
/*
 * fuzz_recover_crypt.c: fuzz_recover over encrypted database directories:
 * the same input programs (fuzz_frame.h) and invariants, with every data
 * file sealed by crypto.c and bit flips landing in the ciphertext (see
 * fuzz_recover.c). Its corpus is fuzz_recover's plus inputs that flip
 * ciphertext.
 */
#define FR_CRYPT 1
#include "fuzz_recover.c"
