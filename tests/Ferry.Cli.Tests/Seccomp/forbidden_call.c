// Loaded into a ferry VMM with LD_PRELOAD by SeccompTests, so that no test switch lives in ferry
// itself: a thread waits until the process has confined itself (/proc/self/status says
// "Seccomp: 2") and then makes one call the list leaves out, syslog's harmless size query.
// The kernel must kill the whole process at that call with SIGSYS.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int seccomp_mode(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    int mode = -1;
    if (status == NULL) return -1;
    while (fgets(line, sizeof line, status) != NULL)
        if (strncmp(line, "Seccomp:", 8) == 0) mode = atoi(line + 8);
    fclose(status);
    return mode;
}

static void *forbidden_call(void *unused)
{
    (void)unused;
    struct timespec pause = { 0, 10 * 1000 * 1000 };
    while (seccomp_mode() != 2) nanosleep(&pause, NULL);
    syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, 0, 0);
    return NULL;
}

__attribute__((constructor)) static void start_watching(void)
{
    pthread_t thread;
    if (pthread_create(&thread, NULL, forbidden_call, NULL) == 0) pthread_detach(thread);
}
