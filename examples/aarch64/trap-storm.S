// trap-storm: `calls` x PSCI_VERSION through `smc #0` (1,000,000 by default, a
// .quad the bench may patch), then PSCI SYSTEM_OFF. Measures the cost of a trap
// round trip; the guest counts answers that are not 0x10001 (PSCI 1.1) and
// prints the count at the end.

        .equ    UART_BASE,              0x09000000
        .equ    PSCI_VERSION,           0x84000000
        .equ    PSCI_SYSTEM_OFF,        0x84000008
        .equ    PSCI_1_1,               0x10001

        .text
        .global _start
        .type   _start, %function
_start:
        ldr     x19, calls
        mov     x20, #0                 // answers other than PSCI 1.1
        ldr     w21, =PSCI_VERSION
        mov     w22, #PSCI_1_1
        cbz     x19, 2f
1:      mov     w0, w21
        smc     #0
        cmp     x0, x22
        cinc    x20, x20, ne
        subs    x19, x19, #1
        b.ne    1b
2:      adr     x0, msg_done
        bl      puts
        mov     x0, x20
        bl      putdec
        adr     x0, msg_tail
        bl      puts
        ldr     w0, =PSCI_SYSTEM_OFF
        smc     #0
3:      wfi
        b       3b
        .size   _start, . - _start

// puts: prints the NUL-terminated string at x0. Clobbers x0-x2.
        .type   puts, %function
puts:
        ldr     x1, =UART_BASE
1:      ldrb    w2, [x0], #1
        cbz     w2, 2f
        strb    w2, [x1]
        b       1b
2:      ret
        .size   puts, . - puts

// putdec: prints x0 in decimal, building the digits backwards in `digits`. Clobbers x0-x4.
        .type   putdec, %function
putdec:
        adr     x1, digits_end
        mov     x2, #10
1:      udiv    x3, x0, x2
        msub    x4, x3, x2, x0
        add     x4, x4, #'0'
        strb    w4, [x1, #-1]!
        mov     x0, x3
        cbnz    x0, 1b
        mov     x0, x1                  // the digits, NUL-terminated by digits_end
        b       puts
        .size   putdec, . - putdec

        .ltorg
        .balign 8
        .global calls
        .type   calls, %object
calls:
        .quad   1000000
        .size   calls, 8

msg_done:       .asciz  "trap-storm: done, answers other than PSCI 1.1: "
msg_tail:       .asciz  "\n"

        .data
digits:         .space  24
digits_end:     .byte   0
