/* The command line's workloads: ferry.workload=A;B;C ferry.args="a1 a2;b1;c1" ferry.poweroff=1.
 * Programs are separated by ';' (in both), run at once, one process each; a NAME without '/'
 * is /bin/NAME. When one exits: "ferry-guest: workload exited status=S" (with " name=NAME"
 * when there are several); after the last, power off if asked.
 * ferry.test-panic=1 makes the kernel panic right after the ready line, so a VMM's tests can
 * check that a crashed guest is reported as dead, never as powered off. */
#include "boot.h"
#include "acpi.h"
#include "proc.h"

#define MAX_WORKLOADS 8
struct workload {
    char path[128];
    char name[48];
    char args[256];
};
static struct workload workloads[MAX_WORKLOADS];
int nworkloads;
static int nexited, poweroff;

/* Value of key=... in the command line (quotes removed), or NULL. */
static const char *find_value(const char *cmd, const char *key, char *out, size_t outsz)
{
    size_t klen = strlen(key);
    for (const char *p = cmd; *p;) {
        while (*p == ' ') p++;
        const char *word = p;
        int quoted = 0;
        while (*p && (quoted || *p != ' ')) {
            if (*p == '"') quoted = !quoted;
            p++;
        }
        if ((size_t)(p - word) > klen && !strncmp(word, key, klen) && word[klen] == '=') {
            size_t o = 0;
            for (const char *v = word + klen + 1; v < p && o + 1 < outsz; v++)
                if (*v != '"') out[o++] = *v;
            out[o] = 0;
            return out;
        }
    }
    return NULL;
}

/* The i-th ';'-separated field of s into out. */
static void field(const char *s, int i, char *out, size_t outsz)
{
    while (i > 0 && *s) if (*s++ == ';') i--;
    size_t o = 0;
    while (*s && *s != ';' && o + 1 < outsz) out[o++] = *s++;
    out[o] = 0;
}

int test_panic;

void workloads_parse(const char *cmd)
{
    char list[512], args[1024], v[8];
    if (find_value(cmd, "ferry.poweroff", v, sizeof v)) poweroff = v[0] == '1';
    if (find_value(cmd, "ferry.test-panic", v, sizeof v)) test_panic = v[0] == '1';
    if (!find_value(cmd, "ferry.workload", list, sizeof list) || !list[0]) return;
    if (!find_value(cmd, "ferry.args", args, sizeof args)) args[0] = 0;
    int count = 1;
    for (char *c = list; *c; c++) count += *c == ';';
    for (int i = 0; i < count && nworkloads < MAX_WORKLOADS; i++) {
        struct workload *w = &workloads[nworkloads];
        char name[128];
        field(list, i, name, sizeof name);
        if (!name[0]) continue;
        int has_slash = 0;
        for (char *c = name; *c; c++) has_slash |= *c == '/';
        if (has_slash) strncpy_z(w->path, name, sizeof w->path);
        else ksnprintf(w->path, sizeof w->path, "/bin/%s", name);
        const char *base = w->path;
        for (const char *c = w->path; *c; c++)
            if (*c == '/') base = c + 1;
        strncpy_z(w->name, base, sizeof w->name);
        field(args, i, w->args, sizeof w->args);
        nworkloads++;
    }
}

static void report_exit(int index, int status)
{
    if (nworkloads > 1) kprintf("ferry-guest: workload exited status=%d name=%s\n", status, workloads[index].name);
    else kprintf("ferry-guest: workload exited status=%d\n", status);
    if (++nexited == nworkloads && poweroff) acpi_poweroff();
}

void workloads_start(void)
{
    for (int i = 0; i < nworkloads; i++)
        if (proc_start(i, workloads[i].path, workloads[i].args) < 0) report_exit(i, 127);
}

void workload_exited(struct proc *p) { report_exit(p->workload, p->exit_status); }
