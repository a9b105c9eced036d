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

/* The command line is read in runs between the bytes that matter (str_span), not byte by byte:
 * each byte handled at CPL 0 costs an emulated instruction or more on kvm_pvm. */

/* The word at *pp (words are separated by spaces; double quotes group): its start, and *pp
 * moves past it. NULL at the end of the line. */
static const char *next_word(const char **pp, const char **end)
{
    const char *p = *pp;
    while (*p == ' ') p++;
    if (!*p) return NULL;
    const char *word = p;
    for (;;) {
        p += str_span(p, ' ', '"');
        if (*p != '"') break;
        p++;
        p += str_span(p, '"', 0); /* inside quotes: spaces belong to the word */
        if (*p) p++;
    }
    *pp = *end = p;
    return word;
}

/* [v, end) into out without its double quotes. */
static void copy_unquoted(const char *v, const char *end, char *out, size_t outsz)
{
    size_t o = 0;
    while (v < end && o + 1 < outsz) {
        size_t n = MIN(MIN(str_span(v, '"', 0), (size_t)(end - v)), outsz - 1 - o);
        memcpy(out + o, v, n);
        o += n;
        v += n;
        if (v < end && *v == '"') v++;
    }
    out[o] = 0;
}

/* If word [w, end) is key=VALUE: VALUE (quotes removed) into out. */
static int match_key(const char *w, const char *end, const char *key, char *out, size_t outsz)
{
    size_t klen = strlen(key);
    if ((size_t)(end - w) <= klen || w[klen] != '=' || memcmp(w, key, klen)) return 0;
    copy_unquoted(w + klen + 1, end, out, outsz);
    return 1;
}

int test_panic;

/* One pass over the words; for each key the first occurrence counts. */
void workloads_parse(const char *cmd)
{
    char list[512], args[1024], v[8];
    int have_list = 0, have_args = 0, have_po = 0, have_tp = 0;
    args[0] = 0;
    const char *end;
    for (const char *w; (w = next_word(&cmd, &end));) {
        if (end - w < 8 || memcmp(w, "ferry.", 6)) continue;
        if (!have_list && match_key(w, end, "ferry.workload", list, sizeof list)) have_list = 1;
        else if (!have_args && match_key(w, end, "ferry.args", args, sizeof args)) have_args = 1;
        else if (!have_po && match_key(w, end, "ferry.poweroff", v, sizeof v)) have_po = 1, poweroff = v[0] == '1';
        else if (!have_tp && match_key(w, end, "ferry.test-panic", v, sizeof v)) have_tp = 1, test_panic = v[0] == '1';
    }
    if (!have_list || !list[0]) return;
    const char *name = list, *arg = args;
    for (int i = 0; nworkloads < MAX_WORKLOADS; i++) {
        struct workload *w = &workloads[nworkloads];
        size_t n = str_span(name, ';', 0), an = str_span(arg, ';', 0);
        if (n) {
            size_t at = 0;
            if (str_span(name, '/', ';') == n) { /* no '/': /bin/NAME */
                memcpy(w->path, "/bin/", 5);
                at = 5;
            }
            n = MIN(n, sizeof w->path - 1 - at);
            memcpy(w->path + at, name, n);
            w->path[at + n] = 0;
            const char *base = w->path;
            for (const char *c = base; *(c += str_span(c, '/', 0));) base = ++c;
            strncpy_z(w->name, base, sizeof w->name);
            strncpy_z(w->args, arg, MIN(an + 1, sizeof w->args));
            nworkloads++;
        }
        name += str_span(name, ';', 0);
        arg += an;
        if (!*name) break;
        name++;
        if (*arg) arg++;
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
