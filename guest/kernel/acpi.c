/* ACPI tables, read through the direct map. Only what the guest needs: the enabled local
 * APICs (MADT types 0 and 9), the IOAPICs (type 1) and the S5 sleep type for power-off. */
#include "acpi.h"

u32 acpi_cpu_apic_ids[MAX_CPUS];
int acpi_ncpus;
struct acpi_ioapic acpi_ioapics[4];
int acpi_nioapics;
static int have_acpi;

struct sdt {
    char sig[4];
    u32 length;
    u8 revision, checksum;
    char oem[6], oem_table[8];
    u32 oem_rev, creator, creator_rev;
} __attribute__((packed));

struct gas {
    u8 space, bit_width, bit_offset, access;
    u64 address;
} __attribute__((packed));

static u32 pm1a_cnt, pm1b_cnt;  /* I/O ports, 0 = none */
static struct gas sleep_ctl;    /* hardware-reduced ACPI (QEMU microvm) */
static int slp_typa = -1;

static u64 find_rsdp_legacy(void)
{
    u64 ebda = (u64)*(u16 *)phys_to_virt(0x40E) << 4;
    u64 ranges[2][2] = { { ebda, ebda + 1024 }, { 0xE0000, 0x100000 } };
    for (int r = 0; r < 2; r++)
        for (u64 a = ranges[r][0]; a && a < ranges[r][1]; a += 16)
            if (!memcmp(phys_to_virt(a), "RSD PTR ", 8)) return a;
    return 0;
}

/* \_S5_ in the DSDT: NameOp "_S5_" PackageOp PkgLength NumElements, then SLP_TYPa. Found by
 * its rare '5' with memchr (QEMU's DSDT took ~4 ms byte by byte on kvm_pvm). */
static void find_s5(const struct sdt *dsdt)
{
    const u8 *end = (const u8 *)dsdt + dsdt->length;
    for (const u8 *f = (const u8 *)dsdt + sizeof *dsdt + 2; f + 6 < end && (f = memchr(f, '5', end - 6 - f)); f++) {
        const u8 *p = f - 2;
        if (*(const u32u *)p != 0x5f35535f || p[4] != 0x12) continue; /* "_S5_" PackageOp */
        if (p[-1] != 0x08 && !(p[-2] == 0x08 && p[-1] == '\\')) continue;
        const u8 *q = p + 5;
        q += ((*q >> 6) & 3) + 1; /* PkgLength */
        q++;                      /* NumElements */
        if (*q == 0x0A) slp_typa = q[1];
        else if (*q == 0x00) slp_typa = 0;
        else if (*q == 0x01) slp_typa = 1;
        else if (*q == 0xFF) slp_typa = 0xFF; /* OnesOp: unusual, keep going */
        return;
    }
}

static void parse_madt(const struct sdt *t)
{
    const u8 *p = (const u8 *)t + sizeof *t + 8, *end = (const u8 *)t + t->length;
    for (; p + 2 <= end && p[1] >= 2; p += p[1]) {
        u32 id, flags;
        if (p[0] == 1 && p[1] >= 12 && acpi_nioapics < (int)ARRAY_SIZE(acpi_ioapics)) {
            acpi_ioapics[acpi_nioapics++] = (struct acpi_ioapic){ *(const u32u *)(p + 4), *(const u32u *)(p + 8) };
            continue;
        }
        if (p[0] == 0) { id = p[3]; flags = *(const u32 *)(p + 4); }
        else if (p[0] == 9) { id = *(const u32 *)(p + 4); flags = *(const u32 *)(p + 8); }
        else continue;
        if (!(flags & 1) || acpi_ncpus >= MAX_CPUS) continue;
        int dup = 0;
        for (int i = 0; i < acpi_ncpus; i++) dup |= acpi_cpu_apic_ids[i] == id;
        if (!dup) acpi_cpu_apic_ids[acpi_ncpus++] = id;
    }
}

static void parse_fadt(const struct sdt *t)
{
    const u8 *f = (const u8 *)t;
    u32 len = t->length;
    pm1a_cnt = *(const u32 *)(f + 64);
    pm1b_cnt = *(const u32 *)(f + 68);
    if (len >= 184) { /* X_PM1a_CNT_BLK at 172, when in I/O space */
        const struct gas *x = (const struct gas *)(f + 172);
        if (!pm1a_cnt && x->space == 1 && x->address) pm1a_cnt = (u32)x->address;
    }
    if (len >= 256) sleep_ctl = *(const struct gas *)(f + 244);
    u64 dsdt = *(const u32 *)(f + 40);
    if (len >= 148 && *(const u64 *)(f + 140)) dsdt = *(const u64 *)(f + 140);
    if (dsdt) find_s5(phys_to_virt(dsdt));
}

void acpi_init(u64 rsdp_paddr)
{
    if (!rsdp_paddr) rsdp_paddr = find_rsdp_legacy();
    if (!rsdp_paddr) {
        kprintf("ferry-guest: no ACPI RSDP; assuming one vCPU\n");
        return;
    }
    have_acpi = 1;
    const u8 *rsdp = phys_to_virt(rsdp_paddr);
    u64 root = *(const u32 *)(rsdp + 16);
    int entry_size = 4;
    if (rsdp[15] >= 2 && *(const u64 *)(rsdp + 24)) {
        root = *(const u64 *)(rsdp + 24);
        entry_size = 8;
    }
    const struct sdt *r = phys_to_virt(root);
    int n = (r->length - sizeof *r) / entry_size;
    for (int i = 0; i < n; i++) {
        const u8 *e = (const u8 *)r + sizeof *r + i * entry_size;
        u64 pa = entry_size == 8 ? *(const u64 *)e : *(const u32 *)e;
        const struct sdt *t = phys_to_virt(pa);
        if (!memcmp(t->sig, "APIC", 4)) parse_madt(t);
        else if (!memcmp(t->sig, "FACP", 4)) parse_fadt(t);
    }
}

void acpi_poweroff(void)
{
    if (!have_acpi) { /* QEMU microvm with acpi=off: a reset ends QEMU under -no-reboot */
        kprintf("ferry-guest: no ACPI to power off with; resetting instead\n");
        triple_fault();
    }
    if (slp_typa >= 0 && pm1a_cnt) {
        outw(pm1a_cnt, (u16)((slp_typa << 10) | (1 << 13)));
        if (pm1b_cnt) outw(pm1b_cnt, (u16)((slp_typa << 10) | (1 << 13)));
    } else if (slp_typa >= 0 && sleep_ctl.address) {
        u8 v = (u8)(((slp_typa & 7) << 2) | (1 << 5));
        if (sleep_ctl.space == 1) outb((u16)sleep_ctl.address, v);
        else *(volatile u8 *)phys_to_virt(sleep_ctl.address) = v;
    }
    for (int i = 0; i < 1000000; i++) cpu_relax();
    panic("ACPI power-off did not stop the VM (S5 type %d, PM1a_CNT 0x%x)", slp_typa, pm1a_cnt);
}
