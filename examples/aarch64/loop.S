// loop: a tight loop with no traps, for the benchmark (bench/core.ts).
// Runs `iterations` times (a .quad the bench may patch in the ELF or in guest
// memory before starting; the symbol is kept), then PSCI SYSTEM_OFF.
// Each iteration is 2 instructions (subs + b.ne).

        .equ    UART_BASE,              0x09000000
        .equ    PSCI_SYSTEM_OFF,        0x84000008

        .text
        .global _start
        .type   _start, %function
_start:
        ldr     x1, iterations
        cbz     x1, 2f
1:      subs    x1, x1, #1
        b.ne    1b
2:      ldr     x1, =UART_BASE
        adr     x2, msg_done
3:      ldrb    w0, [x2], #1
        cbz     w0, 4f
        strb    w0, [x1]
        b       3b
4:      ldr     w0, =PSCI_SYSTEM_OFF
        smc     #0
5:      wfi
        b       5b
        .size   _start, . - _start

        .ltorg
        .balign 8
        .global iterations
        .type   iterations, %object
iterations:
        .quad   100000000
        .size   iterations, 8

msg_done:
        .asciz  "loop: done\n"
