# gdb settings for Trapdoor's stub: gdb-multiarch -x examples/trapdoor.gdb GUEST.elf
# (or `source` it from ~/.gdbinit).

# `monitor decide return x0=...` (and undef, skip) change registers at once, but
# gdb keeps the registers it read at the stop: read them again after every
# monitor command, so that `p $x0` shows what the guest will see.
define hookpost-monitor
  maintenance flush register-cache
end

# gdb then leaves breakpoints in place between stops instead of removing and
# inserting them around every stop: two round trips fewer each time.
set breakpoint always-inserted on
