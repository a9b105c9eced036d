/* IOAPIC routing for device interrupts (virtio-mmio). */
#pragma once
#include "kernel.h"
int ioapic_route(u32 gsi, u8 vector, u32 dest_apic_id); /* edge, active high, unmasked; -1: no IOAPIC has it */
