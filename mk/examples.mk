# Example guests (examples/*/*.S -> *.elf). Include from the top-level Makefile,
# or run alone from the repository root:   make -f mk/examples.mk examples
#
# The ELFs are build output (ignored by git). -N puts text, data and bss in one
# PT_LOAD at 0x40000000 (no ELF-header segment below RAM); -g keeps line info for
# source-level stepping under gdb/DAP; symbols are kept (no -s) so the bench can
# find `iterations` / `calls`.

EXAMPLES_AARCH64_AS ?= aarch64-linux-gnu-as
EXAMPLES_AARCH64_LD ?= aarch64-linux-gnu-ld
EXAMPLES_ARM_AS     ?= arm-linux-gnueabihf-as
EXAMPLES_ARM_LD     ?= arm-linux-gnueabihf-ld
EXAMPLES_ASFLAGS    ?= -g
EXAMPLES_LDFLAGS    ?= -N --no-warn-rwx-segments -Ttext=0x40000000 -e _start
EXAMPLES_OBJDIR     ?= build/examples

EXAMPLES_AARCH64_SRC := $(wildcard examples/aarch64/*.S)
EXAMPLES_AARCH32_SRC := $(wildcard examples/aarch32/*.S)
EXAMPLES_ELF := $(EXAMPLES_AARCH64_SRC:.S=.elf) $(EXAMPLES_AARCH32_SRC:.S=.elf)

# Do not become the includer's default goal.
_examples_default_goal := $(.DEFAULT_GOAL)

.PHONY: examples examples-clean
examples: $(EXAMPLES_ELF)
ifeq ($(strip $(EXAMPLES_AARCH64_SRC) $(EXAMPLES_AARCH32_SRC)),)
	@echo "mk/examples.mk: no examples/*/*.S here: run it from the repository root (make -C ROOT -f mk/examples.mk examples)" >&2; exit 1
endif

examples-clean:
	rm -f $(EXAMPLES_ELF)
	rm -rf $(EXAMPLES_OBJDIR)

$(EXAMPLES_OBJDIR)/aarch64/%.o: examples/aarch64/%.S
	@mkdir -p $(@D)
	$(EXAMPLES_AARCH64_AS) $(EXAMPLES_ASFLAGS) -o $@ $<

examples/aarch64/%.elf: $(EXAMPLES_OBJDIR)/aarch64/%.o
	$(EXAMPLES_AARCH64_LD) $(EXAMPLES_LDFLAGS) -o $@ $<

$(EXAMPLES_OBJDIR)/aarch32/%.o: examples/aarch32/%.S
	@mkdir -p $(@D)
	$(EXAMPLES_ARM_AS) $(EXAMPLES_ASFLAGS) -o $@ $<

examples/aarch32/%.elf: $(EXAMPLES_OBJDIR)/aarch32/%.o
	$(EXAMPLES_ARM_LD) $(EXAMPLES_LDFLAGS) -o $@ $<

# Keep the objects (make would delete them as intermediates of a chain).
.SECONDARY: $(patsubst examples/%.S,$(EXAMPLES_OBJDIR)/%.o,$(EXAMPLES_AARCH64_SRC) $(EXAMPLES_AARCH32_SRC))

ifneq ($(firstword $(MAKEFILE_LIST)),$(lastword $(MAKEFILE_LIST)))
.DEFAULT_GOAL := $(_examples_default_goal)
endif
