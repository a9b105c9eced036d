/* Host-side unit tests for the kernel's pure logic: cpio parsing, command-line parsing and the
 * mapping list. The kernel sources are included directly and built for the host; the few
 * kernel services they touch are stubbed below. Run: make -C guest/kernel check */
#include "../cpio.c"
#include "../workloads.c"
#include "../vm.c"

int printf(const char *fmt, ...);
int sprintf(char *s, const char *fmt, ...);

/* ---- stubs ---- */
void kprintf(const char *fmt, ...) { (void)fmt; }
int ksnprintf(char *buf, size_t n, const char *fmt, ...)
{
    /* only "/bin/%s" is used by workloads.c */
    (void)fmt;
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    const char *arg = __builtin_va_arg(ap, const char *);
    __builtin_va_end(ap);
    size_t i = 0;
    for (const char *p = "/bin/"; *p && i + 1 < n; p++) buf[i++] = *p;
    for (const char *p = arg; *p && i + 1 < n; p++) buf[i++] = *p;
    buf[i] = 0;
    return (int)i;
}
char *strncpy_z(char *d, const char *s, size_t n)
{
    size_t i = 0;
    for (; i + 1 < n && s[i]; i++) d[i] = s[i];
    d[i] = 0;
    return d;
}
static int started[8];
int proc_start(int w, const char *path, const char *args) { (void)path, (void)args; started[w] = 1; return 0; }
void acpi_poweroff(void) { __builtin_trap(); }
u64 *pte_walk(u64 a, u64 b, int c, int *d) { (void)a, (void)b, (void)c, (void)d; return NULL; }
int map_page(u64 a, u64 b, u64 c, u64 d) { (void)a, (void)b, (void)c, (void)d; return 0; }
u64 alloc_page(void) { return 0; }
u64 alloc_huge(void) { return 0; }
void tlb_shootdown(struct proc *p) { (void)p; }

static int failures;
#define CHECK(cond) do { if (!(cond)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

/* ---- cpio ---- */
static char archive[4096];
static size_t alen;

static void add_entry(const char *name, unsigned mode, const char *data)
{
    size_t namesize = strlen(name) + 1, filesize = strlen(data);
    alen += sprintf(archive + alen, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", 7, mode, 0, 0, 1,
                    1234, (unsigned)filesize, 0, 0, 0, 0, (unsigned)namesize, 0);
    memcpy(archive + alen, name, namesize);
    alen = (alen + namesize + 3) & ~3UL;
    memcpy(archive + alen, data, filesize);
    alen = (alen + filesize + 3) & ~3UL;
}

static void test_cpio(void)
{
    add_entry(".", 040755, "");
    add_entry("./bin", 040755, "");
    add_entry("./bin/hello", 0100755, "ELFDATA");
    add_entry("etc/motd", 0100644, "hi\n");
    add_entry("TRAILER!!!", 0, "");
    u64 phys = (u64)archive - DIRECT_MAP; /* so phys_to_virt() gives the buffer back */
    CHECK(cpio_init(phys, alen) == 4);
    const struct cpio_file *f = cpio_lookup("/bin/hello");
    CHECK(f && f->size == 7 && f->mode == 0100755 && !memcmp(phys_to_virt(f->data_phys), "ELFDATA", 7));
    CHECK(f && (f->data_phys - phys) % 4 == 0);
    CHECK(cpio_lookup("bin/hello") == f);
    CHECK(cpio_lookup("./bin/hello") == f);
    CHECK(cpio_lookup("/bin/") && (cpio_lookup("/bin/")->mode & 0170000) == 040000);
    CHECK(cpio_lookup("/etc/motd") && cpio_lookup("/etc/motd")->size == 3);
    CHECK(cpio_lookup("/bin/hell") == NULL);
    CHECK(cpio_lookup("/") != NULL);
    CHECK(cpio_init(phys + 1, alen - 1) < 0); /* not a header */
    CHECK(hex8("0000abCD") == 0xabcd && hex8("FfFf0019") == 0xffff0019UL && hex8("12345678") == 0x12345678);
}

/* ---- command line ---- */
/* Value of key=... in the command line (quotes removed), or NULL. */
static const char *find_value(const char *cmd, const char *key, char *out, size_t outsz)
{
    const char *end;
    for (const char *w; (w = next_word(&cmd, &end));)
        if (match_key(w, end, key, out, outsz)) return out;
    return NULL;
}

static void test_cmdline(void)
{
    workloads_parse("console=ttyS0 ferry.workload=memtouch;/opt/memverify ferry.args=\"--mb 64 --rate 10;--mb 32\" "
                    "ferry.poweroff=1 unknown=x");
    CHECK(nworkloads == 2);
    CHECK(!strcmp(workloads[0].path, "/bin/memtouch") && !strcmp(workloads[0].name, "memtouch"));
    CHECK(!strcmp(workloads[0].args, "--mb 64 --rate 10"));
    CHECK(!strcmp(workloads[1].path, "/opt/memverify") && !strcmp(workloads[1].name, "memverify"));
    CHECK(!strcmp(workloads[1].args, "--mb 32"));
    CHECK(poweroff == 1);
    workloads_start();
    CHECK(started[0] && started[1]);
    char v[16];
    CHECK(find_value("a ferry.workload= b", "ferry.workload", v, sizeof v) && v[0] == 0);
    CHECK(find_value("ferry.workloads=x", "ferry.workload", v, sizeof v) == NULL);
    CHECK(find_value("x=\"a b\" ferry.args=\"1 2\"3 y", "ferry.args", v, sizeof v) && !strcmp(v, "1 23"));
    CHECK(find_value("  ferry.poweroff=1  ", "ferry.poweroff", v, sizeof v) && !strcmp(v, "1"));
    CHECK(find_value("ferry.args=\"abcdefghijklmnopqrstuvwxyz\"", "ferry.args", v, sizeof v) && !strcmp(v, "abcdefghijklmno"));

    /* empty names are skipped but keep their args field; the first occurrence of a key counts */
    nworkloads = 0;
    poweroff = 0;
    workloads_parse("ferry.workload=\"a;;/x/y/zz;b\" ferry.args=\"1 2;skip;3\" ferry.workload=other ferry.poweroff=0");
    CHECK(nworkloads == 3);
    CHECK(!strcmp(workloads[0].path, "/bin/a") && !strcmp(workloads[0].args, "1 2"));
    CHECK(!strcmp(workloads[1].path, "/x/y/zz") && !strcmp(workloads[1].name, "zz") && !strcmp(workloads[1].args, "3"));
    CHECK(!strcmp(workloads[2].path, "/bin/b") && !strcmp(workloads[2].name, "b") && !strcmp(workloads[2].args, ""));
    CHECK(poweroff == 0);
}

/* ---- mappings ---- */
static void test_vmas(void)
{
    static struct vma vmas[MAX_VMAS];
    struct proc p = { 0 };
    p.vmas = vmas;
    CHECK(vma_set(&p, 0x1000, 0x5000, 3, VMA_ANON) == 0);
    CHECK(vma_set(&p, 0x5000, 0x8000, 3, VMA_ANON) == 0); /* merges */
    CHECK(p.nvma == 1 && p.vmas[0].end == 0x8000);
    vma_clear(&p, 0x3000, 0x4000);                        /* splits */
    CHECK(p.nvma == 2 && p.vmas[0].end == 0x3000 && p.vmas[1].start == 0x4000);
    CHECK(vma_set(&p, 0x2000, 0x5000, 1, VMA_ANON) == 0); /* overlays */
    CHECK(p.nvma == 3 && p.vmas[1].start == 0x2000 && p.vmas[1].prot == 1 && p.vmas[2].start == 0x5000);
    CHECK(vma_find(&p, 0x2fff) == &p.vmas[1] && vma_find(&p, 0x8000) == NULL);
    vma_clear(&p, 0, 0x10000);
    CHECK(p.nvma == 0);
}

int main(void)
{
    test_cpio();
    test_cmdline();
    test_vmas();
    printf(failures ? "host tests: %d failures\n" : "host tests: all passed\n", failures);
    return failures != 0;
}
