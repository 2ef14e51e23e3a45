@ legacy-thumb: an AArch32 guest mixing a pre-SMCCC platform call, an SMCCC call
@ from Thumb state and an SMC the policy answers with undef.
@
@   make -f mk/examples.mk examples
@   trapdoor run examples/aarch32/legacy-thumb.elf --platform highbank \
@       --policy examples/aarch32/legacy-policy.yaml
@
@ Machine contract: RAM at 0x40000000, entry in ARM state, SVC mode, MMU off,
@ PL011 data register at 0x09000000.
@
@ Plain `as` (no C preprocessor): constants are .equ, helpers are subroutines.

        .syntax unified
        .arch   armv7-a
        .arch_extension sec

        .equ    UART_BASE,              0x09000000
        .equ    UART_FR,                0x18
        .equ    UART_FR_TXFF,           (1 << 5)

        .equ    MODE_SVC,               0x13
        .equ    MODE_UND,               0x1b
        .equ    SCTLR_V,                (1 << 13)       @ high vectors at 0xffff0000
        .equ    SCTLR_TE,               (1 << 30)       @ take exceptions in Thumb state

        .equ    HIGHBANK_L2_CTRL,       0x102           @ r12 service number (Calxeda Highbank)
        .equ    PSCI_VERSION,           0x84000000
        .equ    PSCI_SYSTEM_OFF,        0x84000008
        .equ    SIP_UNDEF,              0x82000010      @ legacy-policy.yaml: undef

        .text
        .arm
        .global _start
        .type   _start, %function
_start:
        ldr     sp, =svc_stack_top
        cps     #MODE_UND               @ the Undefined mode has its own banked SP
        ldr     sp, =und_stack_top
        cps     #MODE_SVC

        @ Our vector table, entered in ARM state
        ldr     r0, =vectors
        mcr     p15, 0, r0, c12, c0, 0  @ VBAR
        mrc     p15, 0, r0, c1, c0, 0   @ SCTLR
        bic     r0, r0, #SCTLR_V
        bic     r0, r0, #SCTLR_TE
        mcr     p15, 0, r0, c1, c0, 0
        isb

        ldr     r0, =msg_hello
        bl      puts

        @ Highbank: enable the PL310 L2 cache controller (a real armhf kernel makes this call)
        movw    r12, #HIGHBANK_L2_CTRL
        mov     r0, #1
        smc     #0
        ldr     r1, =name_highbank
        bl      print_result

        @ An SMCCC call from Thumb state. r12 still holds 0x102 on purpose: r0 is a
        @ valid SMCCC fast-call id, so this must decode as PSCI_VERSION, not as Highbank.
        blx     thumb_psci_version

        @ An SMC the policy refuses: our undef handler prints LR_und and resumes here
        ldr     r0, =msg_calling_undef
        bl      puts
        ldr     r0, =SIP_UNDEF
        smc     #0
        ldr     r0, =msg_returned
        bl      puts

        @ PSCI SYSTEM_OFF: the run ends here
        ldr     r0, =msg_bye
        bl      puts
        ldr     r0, =PSCI_SYSTEM_OFF
        smc     #0
        ldr     r0, =msg_still_running
        bl      puts
halt:
        wfi
        b       halt
        .size   _start, . - _start

@ print_result: prints "<name r1> -> 0x<r0>\n"; returns r0 unchanged.
        .type   print_result, %function
print_result:
        push    {r4, lr}
        mov     r4, r0
        mov     r0, r1
        bl      puts
        ldr     r0, =msg_arrow
        bl      puts
        mov     r0, r4
        mov     r1, #1
        bl      puthex
        bl      newline
        mov     r0, r4
        pop     {r4, pc}
        .size   print_result, . - print_result

@ puts: prints the NUL-terminated string at r0. Clobbers r0-r3.
        .type   puts, %function
puts:
        push    {r4, lr}
        mov     r4, r0
1:      ldrb    r0, [r4], #1
        cmp     r0, #0
        beq     2f
        bl      putc
        b       1b
2:      pop     {r4, pc}
        .size   puts, . - puts

@ puthex: prints r0 as 0x<hex>, at least r1 digits. Clobbers r0-r3.
        .type   puthex, %function
puthex:
        push    {r4-r7, lr}
        mov     r4, r0
        mov     r5, r1, lsl #2          @ keep zeros below this shift
        mov     r0, #'0'
        bl      putc
        mov     r0, #'x'
        bl      putc
        mov     r6, #28                 @ shift of the current nibble
        mov     r7, #0                  @ a digit was printed
1:      mov     r0, r4, lsr r6
        and     r0, r0, #0xf
        orrs    r1, r7, r0
        bne     2f
        cmp     r6, r5
        bge     3f
2:      mov     r7, #1
        cmp     r0, #10
        addlo   r0, r0, #'0'
        addhs   r0, r0, #('a' - 10)
        bl      putc
3:      subs    r6, r6, #4
        bge     1b
        pop     {r4-r7, pc}
        .size   puthex, . - puthex

        .type   newline, %function
newline:
        mov     r0, #'\n'
        @ fall through to putc

@ putc: writes r0 to the PL011, waiting while its FIFO is full. Clobbers r1, r2.
        .type   putc, %function
putc:
        ldr     r1, =UART_BASE
1:      ldr     r2, [r1, #UART_FR]
        tst     r2, #UART_FR_TXFF
        bne     1b
        strb    r0, [r1]
        bx      lr
        .size   putc, . - putc

@ Undefined Instruction (VBAR + 0x04), Undefined mode, ARM state.
@ LR_und = address of the refused SMC + 4, so `movs pc, lr` resumes after it.
        .type   undef_handler, %function
undef_handler:
        push    {r0-r4, r12, lr}
        mov     r4, lr
        ldr     r0, =msg_undef_lr
        bl      puts
        mov     r0, r4
        mov     r1, #1
        bl      puthex
        bl      newline
        pop     {r0-r4, r12, lr}
        movs    pc, lr
        .size   undef_handler, . - undef_handler

@ Any other vector: back to SVC mode (its stack is set up), print, stop.
unexpected_exception:
        mov     r4, lr
        cps     #MODE_SVC
        ldr     r0, =msg_unexpected
        bl      puts
        mov     r0, r5
        mov     r1, #2
        bl      puthex
        ldr     r0, =msg_unexpected_lr
        bl      puts
        mov     r0, r4
        mov     r1, #1
        bl      puthex
        bl      newline
        b       halt

        .ltorg

@ VBAR needs 32-byte alignment: 8 entries of one instruction each.
        .balign 32
vectors:
        b       vector_reset            @ 0x00
        b       undef_handler           @ 0x04 Undefined Instruction
        b       vector_svc              @ 0x08
        b       vector_prefetch_abort   @ 0x0c
        b       vector_data_abort       @ 0x10
        b       vector_hyp              @ 0x14
        b       vector_irq              @ 0x18
        b       vector_fiq              @ 0x1c
        .size   vectors, . - vectors
vector_reset:           mov r5, #0x00
                        b   unexpected_exception
vector_svc:             mov r5, #0x08
                        b   unexpected_exception
vector_prefetch_abort:  mov r5, #0x0c
                        b   unexpected_exception
vector_data_abort:      mov r5, #0x10
                        b   unexpected_exception
vector_hyp:             mov r5, #0x14
                        b   unexpected_exception
vector_irq:             mov r5, #0x18
                        b   unexpected_exception
vector_fiq:             mov r5, #0x1c
                        b   unexpected_exception

        .thumb
        .type   thumb_psci_version, %function
        .thumb_func
thumb_psci_version:
        push    {r4, lr}
        ldr     r0, =PSCI_VERSION
        smc     #0                      @ 32-bit Thumb-2 encoding
        ldr     r1, =name_psci_thumb
        blx     print_result            @ ARM code
        pop     {r4, pc}                @ interworking return to ARM
        .size   thumb_psci_version, . - thumb_psci_version
        .ltorg
        .arm

        .section .rodata
msg_hello:              .asciz  "legacy-thumb: Highbank SMC, SMCCC from Thumb, undef (AArch32, SVC mode)\n"
msg_arrow:              .asciz  " -> "
msg_calling_undef:      .asciz  "SiP 0x82000010 from ARM state (the policy answers undef)\n"
msg_undef_lr:           .asciz  "undef handler: LR_und="
msg_returned:           .asciz  "returned from undef\n"
msg_bye:                .asciz  "PSCI_SYSTEM_OFF\n"
msg_still_running:      .asciz  "SYSTEM_OFF returned: halting\n"
msg_unexpected:         .asciz  "unexpected exception at vector offset "
msg_unexpected_lr:      .asciz  " LR="
name_highbank:          .asciz  "HIGHBANK_L2_CTRL(enable) [r12=0x102]"
name_psci_thumb:        .asciz  "PSCI_VERSION [from Thumb]"

        .bss
        .balign 8
        .space  0x2000
svc_stack_top:
        .space  0x800
und_stack_top:
