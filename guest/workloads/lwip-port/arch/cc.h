/* lwIP's compiler/platform port for static x86-64 Linux programs (glibc or musl). */
#ifndef FERRY_LWIP_ARCH_CC_H
#define FERRY_LWIP_ARCH_CC_H
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>   /* struct timeval, which lwIP would otherwise define itself */

#define LWIP_TIMEVAL_PRIVATE 0
#define LWIP_RAND() ((u32_t)random())
#define LWIP_PLATFORM_DIAG(x) do { printf x; fflush(stdout); } while (0)
#define LWIP_PLATFORM_ASSERT(x) do { fprintf(stderr, "lwip assertion \"%s\" failed at %s:%d\n", x, __FILE__, __LINE__); fflush(NULL); abort(); } while (0)
#endif
