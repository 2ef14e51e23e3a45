import { readFileSync } from 'node:fs';
import { Cpu } from '../server/machine/cpu.js';
import { CTL, ACT } from '../server/machine/ctl.js';
import { MemoryMap } from '../server/machine/memory.js';
import { parseElf } from '../server/machine/elf.js';
import { stepPlan } from '../server/session/stepper.js';
import { registerTable, FEATURE } from '../server/machine/registers.js';
const elf = parseElf(readFileSync('/tmp/exp/guest.elf'));
if (!elf.ok) throw new Error(elf.error);
const mem = new MemoryMap();
const ram = mem.addRam('ram', 0x40000000n, 128n << 20n);
if (!ram.ok) throw new Error(ram.error);
for (const seg of elf.value.segments) {
  const skip = seg.paddr < 0x40000000n ? Number(0x40000000n - seg.paddr) : 0;
  new Uint8Array(ram.value.buf).set(seg.data.subarray(skip), Number(seg.paddr + BigInt(skip) - 0x40000000n));
}
const cpu = new Cpu('aarch64', mem, new SharedArrayBuffer(CTL.SLOTS * 8), () => ACT.STOP, {});
cpu.pc = elf.value.entry;
const core = registerTable('aarch64').filter((r) => r.feature === FEATURE.a64core);
const names = core.map((r) => r.name), nums = core.map((r) => r.regnum);
function time(name: string, f: () => unknown, n = 100000) {
  for (let i = 0; i < 1000; i++) f();
  const t = performance.now();
  for (let i = 0; i < n; i++) f();
  console.log(name.padEnd(28), ((performance.now() - t) * 1000 / n).toFixed(2), 'us');
}
time('stopFrame', () => cpu.stopFrame('T05thread:1;', names, nums));
time('readRegsTarget', () => cpu.readRegsTarget(names));
time('pc', () => cpu.pc);
time('reg x0', () => cpu.reg('x0'));
time('readMem pc 4', () => cpu.readMem(0x40200000n, 4));
time('stepPlan', () => stepPlan(cpu));
time('armStep+disarm', () => { cpu.armStep([0x40200004n]); cpu.disarmStep(); });
time('insns', () => cpu.insns);
time('run (step to next)', () => { const p = stepPlan(cpu)!; cpu.armStep(p.at); cpu.run(0, true); cpu.disarmStep(); }, 20000);
time('reg cpsr', () => cpu.reg('cpsr'));
time('reg SCTLR_EL1', () => cpu.reg('SCTLR_EL1'));
time('reg pc', () => cpu.reg('pc'));
