/* IOAPICs: just enough to route a device's GSI to a vector on one vCPU. The IOAPICs come from
 * the MADT (QEMU microvm with ACPI has two: GSIs 0-23 and 24-47); without ACPI, or with a MADT
 * that lists none, the one at 0xFEC00000 with GSIs from 0 (KVM's in-kernel IOAPIC, 24 pins). */
#include "acpi.h"
#include "ioapic.h"

#define IOAPIC_DEFAULT 0xFEC00000UL
#define REG_VER 0x01
#define REG_REDTBL 0x10
#define RTE_MASKED (1U << 16)

static u32 ioapic_read(u64 base, u32 reg)
{
    *(volatile u32 *)phys_to_virt(base) = reg;           /* IOREGSEL */
    return *(volatile u32 *)phys_to_virt(base + 0x10);   /* IOWIN */
}

static void ioapic_write(u64 base, u32 reg, u32 v)
{
    *(volatile u32 *)phys_to_virt(base) = reg;
    *(volatile u32 *)phys_to_virt(base + 0x10) = v;
}

int ioapic_route(u32 gsi, u8 vector, u32 dest_apic_id)
{
    struct acpi_ioapic fallback = { IOAPIC_DEFAULT, 0 };
    const struct acpi_ioapic *list = acpi_nioapics ? acpi_ioapics : &fallback;
    int n = acpi_nioapics ? acpi_nioapics : 1;
    for (int i = 0; i < n; i++) {
        u64 base = list[i].address;
        if (gsi < list[i].gsi_base) continue;
        u32 pin = gsi - list[i].gsi_base, pins = ((ioapic_read(base, REG_VER) >> 16) & 0xff) + 1;
        if (pin >= pins) continue;
        /* Fixed delivery, physical destination, active high, edge: the device raises its line
         * while InterruptStatus is non-zero, and the driver acknowledges it there before it
         * reads the used ring, so an edge is never missed. Masked while the high half changes. */
        ioapic_write(base, REG_REDTBL + 2 * pin, RTE_MASKED | vector);
        ioapic_write(base, REG_REDTBL + 2 * pin + 1, dest_apic_id << 24);
        ioapic_write(base, REG_REDTBL + 2 * pin, vector);
        return 0;
    }
    return -1;
}
