/* Prints offsets of struct boot_params and struct hvm_start_info-like layouts that Ferry writes.
 * asm/bootparam.h comes with linux-libc-dev, so the zero page is checked against the header. */
#include <asm/bootparam.h>
#include <stddef.h>
#include <stdio.h>

#define OFF(f) printf("offset %s %zu\n", #f, offsetof(struct boot_params, f))
int main(void)
{
    printf("size boot_params %zu\n", sizeof(struct boot_params));
    printf("size boot_e820_entry %zu\n", sizeof(struct boot_e820_entry));
    printf("const E820_MAX_ENTRIES_ZEROPAGE %d\n", E820_MAX_ENTRIES_ZEROPAGE);
    OFF(acpi_rsdp_addr); OFF(ext_ramdisk_image); OFF(ext_ramdisk_size); OFF(ext_cmd_line_ptr);
    OFF(e820_entries); OFF(hdr); OFF(hdr.type_of_loader); OFF(hdr.loadflags); OFF(hdr.ramdisk_image);
    OFF(hdr.ramdisk_size); OFF(hdr.heap_end_ptr); OFF(hdr.cmd_line_ptr); OFF(hdr.initrd_addr_max);
    OFF(hdr.kernel_alignment); OFF(hdr.xloadflags); OFF(hdr.cmdline_size); OFF(hdr.pref_address); OFF(hdr.init_size);
    OFF(hdr.setup_sects); OFF(hdr.boot_flag); OFF(hdr.header); OFF(hdr.version); OFF(e820_table);
    return 0;
}
