// smccc-tour: one of each kind of call Trapdoor stops on, from an AArch64 guest.
//
//   make -f mk/examples.mk examples
//   trapdoor run examples/aarch64/smccc-tour.elf --policy examples/aarch64/tour-policy.yaml
//
// Machine contract: RAM at 0x40000000, entry at EL1h with SP = 0 and
// the MMU off, PL011 data register at 0x09000000. Every call prints its x0, e.g.
// `PSCI_VERSION -> 0x10001`. The SiP call 0x82000010 is answered with an
// Undefined Instruction exception by the example policy; the guest's own vector
// table catches it and resumes after the SMC.
//
// Plain `as` (no C preprocessor): constants are .equ, helpers are subroutines.

        .equ    UART_BASE,              0x09000000
        .equ    UART_FR,                0x18            // flag register offset
        .equ    UART_FR_TXFF,           5               // transmit FIFO full

        .equ    SMCCC_VERSION,          0x80000000
        .equ    SMCCC_ARCH_FEATURES,    0x80000001
        .equ    SMCCC_ARCH_WORKAROUND_1, 0x80008000
        .equ    PSCI_VERSION,           0x84000000
        .equ    PSCI_CPU_OFF,           0x84000002
        .equ    PSCI_CPU_ON64,          0xc4000003
        .equ    PSCI_SYSTEM_OFF,        0x84000008
        .equ    PSCI_FEATURES,          0x8400000a
        .equ    TRNG_RND64,             0xc4000053
        .equ    SIP_UNKNOWN,            0x82000001
        .equ    SIP_UNDEF,              0x82000010      // tour-policy.yaml: undef
        .equ    XEN_HYPERCALL_IMM,      0xea1
        .equ    XEN_VERSION,            17              // __HYPERVISOR_xen_version
        .equ    XENVER_VERSION,         0

        .equ    CPU_ON_CONTEXT,         0x5ec0

        .text
        .global _start
        .type   _start, %function
_start:
        ldr     x0, =stack_top
        mov     sp, x0
        adr     x0, msg_hello
        bl      puts

        // PSCI_VERSION
        ldr     w0, =PSCI_VERSION
        smc     #0
        adr     x1, name_psci_version
        bl      print_result

        // SMCCC_VERSION
        ldr     w0, =SMCCC_VERSION
        smc     #0
        adr     x1, name_smccc_version
        bl      print_result

        // SMCCC_ARCH_FEATURES(ARCH_WORKAROUND_1), through the hypervisor conduit
        ldr     w0, =SMCCC_ARCH_FEATURES
        ldr     w1, =SMCCC_ARCH_WORKAROUND_1
        hvc     #0
        adr     x1, name_arch_features
        bl      print_result

        // PSCI_FEATURES(SMCCC_VERSION): is SMCCC_VERSION implemented?
        ldr     w0, =PSCI_FEATURES
        ldr     w1, =SMCCC_VERSION
        smc     #0
        adr     x1, name_psci_features
        bl      print_result

        // TRNG_RND64 for 64 bits: x0 = status, the entropy comes back in x3
        ldr     w0, =TRNG_RND64
        mov     x1, #64
        smc     #0
        mov     x20, x3
        adr     x1, name_trng_rnd64
        bl      print_result
        adr     x0, msg_entropy
        bl      puts
        mov     x0, x20
        mov     x1, #1
        bl      puthex
        bl      newline

        // An SiP call nobody implements: SMCCC says x0 = -1 (NOT_SUPPORTED)
        ldr     w0, =SIP_UNKNOWN
        smc     #0
        adr     x1, name_sip_unknown
        bl      print_result
        adr     x1, msg_not_supported
        adr     x2, msg_supported
        cmn     x0, #1                  // x0 == -1 ?
        csel    x0, x1, x2, eq
        bl      puts

        // Xen hypercall: number in x16, arguments in x0.., HVC #0xEA1
        mov     x16, #XEN_VERSION
        mov     x0, #XENVER_VERSION
        hvc     #XEN_HYPERCALL_IMM
        adr     x1, name_xen_version
        bl      print_result

        // Catch the Undefined Instruction exception the policy injects for SIP_UNDEF
        adr     x0, vectors
        msr     vbar_el1, x0
        isb
        adr     x0, msg_calling_undef
        bl      puts
        ldr     w0, =SIP_UNDEF
        smc     #0
        adr     x0, msg_returned
        bl      puts

        // PSCI CPU_ON(target cpu 1, entry, context id)
        ldr     w0, =PSCI_CPU_ON64
        mov     x1, #1
        adr     x2, secondary_entry
        mov     x3, #CPU_ON_CONTEXT
        smc     #0
        adr     x1, name_cpu_on
        bl      print_result

        // PSCI SYSTEM_OFF: the run ends here
        adr     x0, msg_bye
        bl      puts
        ldr     w0, =PSCI_SYSTEM_OFF
        smc     #0
        adr     x0, msg_still_running
        bl      puts
halt:
        wfi
        b       halt
        .size   _start, . - _start

// Where CPU 1 starts after CPU_ON: x0 = context id, MMU off, own stack.
        .type   secondary_entry, %function
secondary_entry:
        ldr     x1, =stack1_top
        mov     sp, x1
        mov     x19, x0
        adr     x0, msg_cpu1
        bl      puts
        mov     x0, x19
        mov     x1, #1
        bl      puthex
        bl      newline
        ldr     w0, =PSCI_CPU_OFF
        smc     #0
1:      wfi
        b       1b
        .size   secondary_entry, . - secondary_entry

// print_result: prints "<name x1> -> 0x<x0>\n"; returns x0 unchanged.
        .type   print_result, %function
print_result:
        stp     x29, x30, [sp, #-32]!
        mov     x29, sp
        stp     x19, x20, [sp, #16]
        mov     x19, x0
        mov     x0, x1
        bl      puts
        adr     x0, msg_arrow
        bl      puts
        mov     x0, x19
        mov     x1, #1
        bl      puthex
        bl      newline
        mov     x0, x19
        ldp     x19, x20, [sp, #16]
        ldp     x29, x30, [sp], #32
        ret
        .size   print_result, . - print_result

// puts: prints the NUL-terminated string at x0. Clobbers x0-x3.
        .type   puts, %function
puts:
        stp     x29, x30, [sp, #-16]!
        mov     x29, sp
        mov     x3, x0
1:      ldrb    w0, [x3], #1
        cbz     w0, 2f
        bl      putc
        b       1b
2:      ldp     x29, x30, [sp], #16
        ret
        .size   puts, . - puts

// puthex: prints x0 as 0x<hex>, at least x1 digits (no leading zeros beyond that).
// Clobbers x0-x7.
        .type   puthex, %function
puthex:
        stp     x29, x30, [sp, #-16]!
        mov     x29, sp
        mov     x4, x0
        mov     x5, x1
        mov     w0, #'0'
        bl      putc
        mov     w0, #'x'
        bl      putc
        mov     x6, #60                 // shift of the current nibble
        mov     x7, #0                  // a digit was printed
1:      lsr     x0, x4, x6
        and     x0, x0, #0xf
        cbnz    x7, 2f
        cbnz    x0, 2f
        cmp     x6, x5, lsl #2          // keep zeros within the last x1 digits
        b.ge    3f
2:      mov     x7, #1
        cmp     x0, #10
        add     x1, x0, #'0'
        add     x2, x0, #('a' - 10)
        csel    x0, x1, x2, lo
        bl      putc
3:      subs    x6, x6, #4
        b.ge    1b
        ldp     x29, x30, [sp], #16
        ret
        .size   puthex, . - puthex

        .type   newline, %function
newline:
        mov     w0, #'\n'
        // fall through to putc

// putc: writes w0 to the PL011, waiting while its FIFO is full. Clobbers x1, x2.
        .type   putc, %function
putc:
        ldr     x1, =UART_BASE
1:      ldr     w2, [x1, #UART_FR]
        tbnz    w2, #UART_FR_TXFF, 1b
        strb    w0, [x1]
        ret
        .size   putc, . - putc

// Synchronous exception from EL1 with SP_EL1 (VBAR_EL1 + 0x200).
        .type   sync_handler, %function
sync_handler:
        stp     x0, x1, [sp, #-96]!
        stp     x2, x3, [sp, #16]
        stp     x4, x5, [sp, #32]
        stp     x6, x7, [sp, #48]
        stp     x19, x20, [sp, #64]
        stp     x29, x30, [sp, #80]
        adr     x0, msg_undef_esr
        bl      puts
        mrs     x0, esr_el1
        mov     x1, #8
        bl      puthex
        adr     x0, msg_undef_elr
        bl      puts
        mrs     x0, elr_el1
        mov     x1, #1
        bl      puthex
        bl      newline
        // Only an Undefined Instruction (EC 0) is expected; anything else is a bug.
        mrs     x0, esr_el1
        lsr     x0, x0, #26
        cbnz    x0, unexpected_sync
        mrs     x0, elr_el1
        add     x0, x0, #4              // resume after the SMC that was refused
        msr     elr_el1, x0
        ldp     x29, x30, [sp, #80]
        ldp     x19, x20, [sp, #64]
        ldp     x6, x7, [sp, #48]
        ldp     x4, x5, [sp, #32]
        ldp     x2, x3, [sp, #16]
        ldp     x0, x1, [sp], #96
        eret
unexpected_sync:
        mov     x0, #0x200
        // fall through
// Any other vector: print its offset and stop.
unexpected_exception:
        mov     x19, x0
        adr     x0, msg_unexpected
        bl      puts
        mov     x0, x19
        mov     x1, #3
        bl      puthex
        bl      newline
        b       halt
        .size   sync_handler, . - sync_handler

        .ltorg

// VBAR_EL1 needs 2 KiB alignment; 16 entries of 0x80 bytes.
        .balign 2048
vectors:
        .set    vector_offset, 0
        .rept   16
        .balign 0x80
        .if     vector_offset == 0x200
        b       sync_handler
        .else
        mov     x0, #vector_offset
        b       unexpected_exception
        .endif
        .set    vector_offset, vector_offset + 0x80
        .endr

        .section .rodata
msg_hello:              .asciz  "smccc-tour: one call of each kind (AArch64, EL1)\n"
msg_arrow:              .asciz  " -> "
msg_entropy:            .asciz  "  entropy x3 = "
msg_not_supported:      .asciz  "  x0 == -1: NOT_SUPPORTED, as SMCCC requires\n"
msg_supported:          .asciz  "  x0 != -1: someone implements this SiP call\n"
msg_calling_undef:      .asciz  "SiP 0x82000010 (the policy answers undef)\n"
msg_undef_esr:          .asciz  "undef handler: ESR_EL1="
msg_undef_elr:          .asciz  " ELR_EL1="
msg_returned:           .asciz  "returned from undef\n"
msg_cpu1:               .asciz  "cpu1: up, context id "
msg_bye:                .asciz  "PSCI_SYSTEM_OFF\n"
msg_still_running:      .asciz  "SYSTEM_OFF returned: halting\n"
msg_unexpected:         .asciz  "unexpected exception at vector offset "
name_psci_version:      .asciz  "PSCI_VERSION"
name_smccc_version:     .asciz  "SMCCC_VERSION"
name_arch_features:     .asciz  "SMCCC_ARCH_FEATURES(ARCH_WORKAROUND_1) [hvc]"
name_psci_features:     .asciz  "PSCI_FEATURES(SMCCC_VERSION)"
name_trng_rnd64:        .asciz  "TRNG_RND64(64 bits)"
name_sip_unknown:       .asciz  "SiP 0x82000001"
name_xen_version:       .asciz  "xen_version [hvc #0xea1]"
name_cpu_on:            .asciz  "PSCI_CPU_ON(cpu 1)"

        .bss
        .balign 16
        .space  0x4000
stack_top:
        .space  0x4000
stack1_top:
