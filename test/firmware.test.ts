import { describe, expect, it } from 'vitest';
import { ARCH_CALLS, decodeCall, HYP_CALLS, PSCI_CALLS, SMCCC_CALLS, TRNG_CALLS } from '../server/decode/index.js';
import type { CallContext, GuestArch } from '../server/decode/types.js';
import { defaultFirmwareConfig, Firmware, SplitMix64, uuidToRegs } from '../server/firmware/index.js';
import type { FirmwareAnswer, FirmwareConfig } from '../server/firmware/types.js';

// ---------------------------------------------------------------------------
// helpers

function ctxOf(id: number, args: bigint[] = [], extra: Partial<CallContext> = {}): CallContext {
  return { arch: 'aarch64', conduit: 'hvc', imm: 0, args: [BigInt(id), ...args], ...extra };
}

function ask(fw: Firmware, id: number, args: bigint[] = [], extra: Partial<CallContext> = {}): FirmwareAnswer {
  const ctx = ctxOf(id, args, extra);
  return fw.respond(ctx, decodeCall(ctx));
}

/** x0 as the signed number the guest reads. */
function x0(a: FirmwareAnswer): number {
  return Number(BigInt.asIntN(64, a.regs[0] ?? 0n));
}

const PSCI_FEATURES = 0x8400000a;
const SMCCC_VERSION = 0x80000000;
const ARCH_FEATURES = 0x80000001;
const TRNG_FEATURES = 0x84000051;
const PV_TIME_FEATURES = 0xc5000020;

const CONFIGS: Array<Partial<FirmwareConfig>> = [
  {},
  { socId: { jep106: 0x043b, revision: 2, soc: 0x1234 }, workaround1: 0, workaround2: -1, workaround3: 0, cpus: 4 },
  { workaround1: -1, workaround2: 0, workaround3: -1 },
];

// ---------------------------------------------------------------------------

describe('discovery matches what is implemented', () => {
  it.each(CONFIGS)('PSCI_FEATURES is 0 exactly for the PSCI functions respond() handles (%o)', (config) => {
    const fw = new Firmware(config);
    for (const id of [SMCCC_VERSION, ...PSCI_CALLS.map((r) => r.id)]) {
      const handled = new Firmware(config).respond(ctxOf(id), decodeCall(ctxOf(id))).handled;
      const feature = x0(ask(fw, PSCI_FEATURES, [BigInt(id)]));
      expect(feature === 0, `PSCI_FEATURES(0x${id.toString(16)})`).toBe(handled);
      expect(feature === 0 || feature === -1).toBe(true);
      expect(fw.implements(id)).toBe(handled);
    }
  });

  it('PSCI_FEATURES covers only PSCI and SMCCC_VERSION', () => {
    const fw = new Firmware({});
    expect(fw.implements(0x84000050)).toBe(true);
    expect(x0(ask(fw, PSCI_FEATURES, [0x84000050n]))).toBe(-1);
    expect(x0(ask(fw, PSCI_FEATURES, [0x80000001n]))).toBe(-1);
  });

  it.each(CONFIGS)('ARCH_FEATURES answers >= 0 exactly for the arch calls respond() handles (%o)', (config) => {
    const fw = new Firmware(config);
    for (const id of [...ARCH_CALLS.map((r) => r.id), PV_TIME_FEATURES, 0x80000005]) {
      const handled = new Firmware(config).respond(ctxOf(id, [0n]), decodeCall(ctxOf(id, [0n]))).handled;
      const feature = x0(ask(fw, ARCH_FEATURES, [BigInt(id)]));
      expect(feature >= 0, `ARCH_FEATURES(0x${id.toString(16)})`).toBe(handled);
    }
  });

  it('TRNG_FEATURES is 0 exactly for the TRNG functions respond() handles', () => {
    const fw = new Firmware({});
    for (const id of [...TRNG_CALLS.map((r) => r.id), 0x84000054, 0x8400005f]) {
      const handled = new Firmware({}).respond(ctxOf(id, [8n]), decodeCall(ctxOf(id, [8n]))).handled;
      expect(x0(ask(fw, TRNG_FEATURES, [BigInt(id)])) === 0).toBe(handled);
    }
    expect(x0(ask(fw, TRNG_FEATURES, [0x84000000n]))).toBe(-1);
  });

  it('KVM_FEATURES sets the bit of every implemented KVM function', () => {
    const fw = new Firmware({});
    const bitmap = ask(fw, 0x86000000).regs[0] ?? 0n;
    for (const row of HYP_CALLS.filter((r) => r.service === 'KVM')) {
      const bit = (bitmap >> BigInt(row.id - 0x86000000)) & 1n;
      expect(bit === 1n, row.name).toBe(fw.implements(row.id));
    }
    expect(bitmap & 1n).toBe(1n);
  });

  it('implements() agrees with respond() for every id in the decode tables', () => {
    for (const config of CONFIGS) {
      for (const row of SMCCC_CALLS) {
        const fw = new Firmware(config);
        expect(ask(fw, row.id, [1n, 0n, 0n]).handled, row.name).toBe(fw.implements(row.id));
      }
    }
  });
});

describe('calls the firmware does not implement', () => {
  it('answer NOT_SUPPORTED (-1) unhandled', () => {
    const fw = new Firmware({});
    for (const id of [0x82000010, 0xc4000020, 0x8400000e, 0xc400000e, 0x84000005, 0xc5000020, 0xc5000021, 0x86000001, 0xbf00ff01]) {
      const a = ask(fw, id);
      expect(a.handled, `0x${id.toString(16)}`).toBe(false);
      expect(a.regs).toEqual([-1n]);
    }
    const yielding = { arch: 'aarch64' as const, conduit: 'smc' as const, imm: 0, args: [0x32000004n] };
    expect(fw.respond(yielding, decodeCall(yielding))).toEqual({ handled: false, regs: [-1n] });
    const unknown = ctxOf(0x00ff0000);
    expect(decodeCall(unknown).kind).toBe('unknown');
    expect(fw.respond(unknown, decodeCall(unknown))).toEqual({ handled: false, regs: [-1n] });
  });
});

describe('PSCI 1.1', () => {
  it('reports its version and that no Trusted OS needs migrating', () => {
    const fw = new Firmware({});
    expect(x0(ask(fw, 0x84000000))).toBe(0x10001);
    expect(x0(ask(fw, 0x84000006))).toBe(2);
    expect(x0(ask(fw, PSCI_FEATURES, [BigInt(SMCCC_VERSION)]))).toBe(0);
    expect(x0(ask(fw, 0xc4000001, [0n, 0x40000000n, 0n]))).toBe(0); // CPU_SUSPEND returns as a wake-up
  });

  it('with one vCPU: CPU_ON is ALREADY_ON for itself and INVALID_PARAMS for others', () => {
    const fw = new Firmware({ cpus: 1 });
    const self = ask(fw, 0xc4000003, [0n, 0x40080000n, 0n]);
    expect(x0(self)).toBe(-4);
    expect(self.effect).toBeUndefined();
    expect(x0(ask(fw, 0xc4000003, [1n, 0x40080000n, 0n]))).toBe(-2);
    expect(x0(ask(fw, 0xc4000004, [0n, 0n]))).toBe(0);
    expect(x0(ask(fw, 0xc4000004, [1n, 0n]))).toBe(-2);
    expect(x0(ask(fw, 0xc4000004, [0n, 1n]))).toBe(-2); // only affinity level 0
  });

  it('brings secondary vCPUs on and off and tracks their state', () => {
    const fw = new Firmware({ cpus: 2 });
    expect(x0(ask(fw, 0xc4000004, [1n, 0n]))).toBe(1); // OFF
    const on = ask(fw, 0xc4000003, [1n, 0x40080000n, 0xc0ffeen]);
    expect(x0(on)).toBe(0);
    expect(on.effect).toBe('cpu_on');
    expect(on.detail).toEqual({ target: '1', mpidr: '0x1', entry: '0x40080000', context: '0xc0ffee' });
    expect(x0(ask(fw, 0xc4000004, [1n, 0n]))).toBe(0); // ON
    expect(x0(ask(fw, 0xc4000003, [1n, 0x40080000n, 0n]))).toBe(-4);
    const off = ask(fw, 0x84000002, [], { cpu: 1 });
    expect(off.effect).toBe('cpu_off');
    expect(off.detail).toEqual({ cpu: '1', last: 'no' });
    expect(off.regs).toEqual([]); // CPU_OFF does not return: no DENIED in x0
    const lastOff = ask(fw, 0x84000002, [], { cpu: 0 });
    expect(lastOff).toMatchObject({ effect: 'cpu_off', regs: [], detail: { cpu: '0', last: 'yes' } });
    expect(x0(ask(fw, 0xc4000004, [1n, 0n]))).toBe(1);
    fw.reset();
    expect(fw.cpuOn).toEqual([true, false]);
  });

  it('reads only the low 32 bits of an SMC32 target', () => {
    const fw = new Firmware({ cpus: 2 });
    expect(x0(ask(fw, 0x84000003, [0xffffffff00000001n, 0x8000n, 0n]))).toBe(0);
    expect(x0(new Firmware({ cpus: 2 }).respond(ctxOf(0xc4000003, [0xffffffff00000001n]), decodeCall(ctxOf(0xc4000003, [0xffffffff00000001n]))))).toBe(-2);
  });

  it('turns SYSTEM_OFF, SYSTEM_RESET and SYSTEM_RESET2 into effects named after the call', () => {
    const fw = new Firmware({});
    expect(ask(fw, 0x84000008)).toMatchObject({ handled: true, effect: 'system_off' });
    expect(ask(fw, 0x84000009)).toMatchObject({ handled: true, effect: 'system_reset' });
    const warm = ask(fw, 0xc4000012, [0n, 0x1234n]);
    expect(warm).toMatchObject({ effect: 'system_reset2', detail: { kind: 'SYSTEM_WARM_RESET', reset_type: '0x0', cookie: '0x1234' } });
    expect(ask(fw, 0x84000012, [0x80000007n, 0n]).detail?.kind).toBe('vendor 0x7');
    const bad = ask(fw, 0x84000012, [5n, 0n]);
    expect(bad.effect).toBeUndefined();
    expect(x0(bad)).toBe(-2);
  });
});

describe('SMCCC 1.2 arch calls', () => {
  it('reports version 1.2 and the configured workaround answers', () => {
    const fw = new Firmware({ workaround1: 0, workaround2: 1, workaround3: -1 });
    expect(x0(ask(fw, SMCCC_VERSION))).toBe(0x10002);
    expect(x0(ask(fw, ARCH_FEATURES, [0x80008000n]))).toBe(0);
    expect(x0(ask(fw, ARCH_FEATURES, [0x80007fffn]))).toBe(1);
    expect(x0(ask(fw, ARCH_FEATURES, [0x80003fffn]))).toBe(-1);
    expect(ask(fw, 0x80008000)).toEqual({ handled: true, regs: [0n] });
    expect(ask(fw, 0x80003fff).handled).toBe(false);
    expect(x0(ask(fw, ARCH_FEATURES, [0x84000000n]))).toBe(-1); // not an arch call
  });

  it('answers SOC_ID only when configured', () => {
    expect(x0(ask(new Firmware({}), ARCH_FEATURES, [0x80000002n]))).toBe(-1);
    expect(x0(ask(new Firmware({}), 0x80000002, [0n]))).toBe(-1);
    const fw = new Firmware({ socId: { jep106: 0x043b, revision: 0x21, soc: 0xd0c } });
    expect(x0(ask(fw, ARCH_FEATURES, [0x80000002n]))).toBe(0);
    expect(x0(ask(fw, 0x80000002, [0n]))).toBe((0x04 << 24) | (0x3b << 16) | 0xd0c);
    expect(x0(ask(fw, 0x80000002, [1n]))).toBe(0x21);
    expect(x0(ask(fw, 0x80000002, [7n]))).toBe(-3);
  });

  it('returns the SoC name (SMCCC 1.6 SoC_ID_type 2) in x1..x17 from the SMC64 form only', () => {
    const fw = new Firmware({ socId: { jep106: 0x043b, revision: 1, name: 'Trapdoor virt' } });
    const named = ask(fw, 0xc0000002, [2n]);
    expect(named.regs).toHaveLength(18);
    expect(named.regs[0]).toBe(0n);
    expect(named.regs[1]).toBe(BigInt('0x' + Buffer.from('Trapdoor').reverse().toString('hex')));
    expect(named.regs[2]).toBe(BigInt('0x' + Buffer.from(' virt').reverse().toString('hex')));
    expect(named.regs.slice(3).every((r) => r === 0n)).toBe(true);
    expect(x0(ask(fw, 0x80000002, [2n]))).toBe(-3); // the SMC32 form has no room for it
    expect(x0(ask(fw, 0xc0000002, [1n]))).toBe(1); // the SMC64 form answers the other types too
    expect(x0(ask(new Firmware({ socId: { jep106: 0x043b, revision: 1 } }), 0xc0000002, [2n]))).toBe(-1);
  });

  it('answers FEATURES queries about SMC64 ids from AArch32 with NOT_SUPPORTED (the caller cannot make them)', () => {
    const fw = new Firmware({ socId: { jep106: 0x043b, revision: 1 } });
    const a32 = { arch: 'aarch32' as const };
    expect(x0(ask(fw, PSCI_FEATURES, [0xc4000003n]))).toBe(0);
    expect(x0(ask(fw, PSCI_FEATURES, [0xc4000003n], a32))).toBe(-1);
    expect(x0(ask(fw, PSCI_FEATURES, [0x84000003n], a32))).toBe(0);
    expect(x0(ask(fw, ARCH_FEATURES, [0xc0000002n], a32))).toBe(-1);
    expect(x0(ask(fw, TRNG_FEATURES, [0xc4000053n], a32))).toBe(-1);
    expect(ask(fw, 0xc4000003, [1n], a32)).toMatchObject({ handled: false, regs: [-1n] });
  });
});

describe('standard secure service queries and FF-A', () => {
  const fw = new Firmware({});
  it('answers STD_SECURE CALL_UID, CALL_COUNT and REVISION (SMCCC General Service Queries)', () => {
    expect(ask(fw, 0x8400ff01).regs).toEqual([0x108d905bn, 0x47e8f863n, 0xfbc02daen, 0xe2f64156n]);
    expect(ask(fw, 0x8400ff03).regs).toEqual([0n, 1n]);
    const count = fw.implementedIds().filter((id) => id >>> 24 === 0x84 || id >>> 24 === 0xc4).length - 2; // less FFA_VERSION/FEATURES
    expect(ask(fw, 0x8400ff00).regs).toEqual([BigInt(count)]);
    expect(count).toBeGreaterThan(10);
  });

  it('says FF-A is not present the way DEN0077A says: FFA_VERSION = NOT_SUPPORTED, FFA_FEATURES = FFA_ERROR', () => {
    expect(ask(fw, 0x84000063, [0x10002n])).toMatchObject({ handled: true, regs: [-1n], note: 'FF-A is not present' });
    expect(ask(fw, 0x84000064, [0x84000066n]).regs).toEqual([0x84000060n, 0n, -1n]);
  });
});

describe('TRNG 1.0', () => {
  it('reports its version and a fixed UUID', () => {
    const fw = new Firmware({});
    expect(x0(ask(fw, 0x84000050))).toBe(0x10000);
    const uuid = ask(fw, 0x84000052);
    expect(uuid.regs).toEqual(uuidToRegs('9de2c387-d8b3-4780-bd01-081d28811047'));
    expect(uuid.regs[0]).not.toBe(0xffffffffn);
  });

  it('is deterministic for a seed and differs for another seed', () => {
    const run = (seed: number): bigint[][] => {
      const fw = new Firmware({ trngSeed: seed });
      return [ask(fw, 0xc4000053, [192n]).regs, ask(fw, 0xc4000053, [192n]).regs];
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
    const [first, second] = run(42);
    expect(first).not.toEqual(second);
  });

  it('is splitmix64 of the seed, least significant bits in x3', () => {
    // splitmix64 seeded with 0 starts 0xe220a8397b1dcdaf (reference value of the algorithm)
    expect(new SplitMix64(0).next()).toBe(0xe220a8397b1dcdafn);
    const a = ask(new Firmware({ trngSeed: 0 }), 0xc4000053, [64n]);
    expect(a.regs).toEqual([0n, 0n, 0n, 0xe220a8397b1dcdafn]);
    const b = ask(new Firmware({ trngSeed: 0 }), 0x84000053, [32n]);
    expect(b.regs).toEqual([0n, 0n, 0n, 0x7b1dcdafn]);
  });

  it('zeroes the bits above N', () => {
    const fw = new Firmware({ trngSeed: 7 });
    for (let i = 0; i < 20; i++) {
      const [, x1, x2, x3] = ask(fw, 0xc4000053, [70n]).regs;
      expect(x1).toBe(0n);
      expect(x2! < 1n << 6n).toBe(true);
      expect(x3! < 1n << 64n).toBe(true);
      const one = ask(fw, 0xc4000053, [1n]).regs;
      expect(one.slice(0, 3)).toEqual([0n, 0n, 0n]);
      expect(one[3]! <= 1n).toBe(true);
      const [s0, s1, s2, s3] = ask(fw, 0x84000053, [40n]).regs;
      expect(s0).toBe(0n);
      expect(s1).toBe(0n);
      expect(s2! < 1n << 8n).toBe(true);
      expect(s3! < 1n << 32n).toBe(true);
    }
  });

  it('fills all three registers at the maximum and rejects N out of range', () => {
    const fw = new Firmware({ trngSeed: 1 });
    const full32 = ask(fw, 0x84000053, [96n]).regs;
    expect(full32.slice(1).every((r) => r < 1n << 32n)).toBe(true);
    expect(full32[1]).not.toBe(0n); // bits 95:64 are filled too
    for (const [id, n] of [[0x84000053, 0n], [0x84000053, 97n], [0xc4000053, 193n], [0xc4000053, 0n]] as const) {
      const a = ask(fw, id, [n]);
      expect(a.handled).toBe(true);
      expect(x0(a)).toBe(-2);
    }
    // SMC32: the upper half of w1 is not part of N
    expect(x0(ask(fw, 0x84000053, [0xffffffff00000040n]))).toBe(0);
  });
});

describe('vendor hypervisor', () => {
  it('returns KVM’s UID encoded as Linux checks it', () => {
    const fw = new Firmware({});
    expect(ask(fw, 0x8600ff01).regs).toEqual([0xb66fb428n, 0xe911c52en, 0x564bcaa9n, 0x743a004dn]);
    expect(ask(fw, 0x8600ff03)).toMatchObject({ handled: true, regs: [1n, 0n] });
  });
});

describe('Xen', () => {
  function xen(nr: number, a: bigint[], arch: GuestArch = 'aarch64'): CallContext {
    const regs = new Array<bigint>(18).fill(0n);
    a.forEach((v, i) => (regs[i] = v));
    regs[arch === 'aarch64' ? 16 : 12] = BigInt(nr);
    return { arch, conduit: 'hvc', imm: 0xea1, args: regs };
  }
  const fw = new Firmware({});
  const answer = (ctx: CallContext): FirmwareAnswer => fw.respond(ctx, decodeCall(ctx));

  it('says Xen 4.17 with 4 KiB pages and no features', () => {
    expect(answer(xen(17, [0n]))).toMatchObject({ handled: true, regs: [0x40011n] });
    expect(answer(xen(17, [7n]))).toMatchObject({ handled: true, regs: [4096n] });
    const features = answer(xen(17, [6n, 0x8000n]));
    expect(features).toMatchObject({ handled: true, regs: [0n] });
    expect(features.memWrites).toEqual([{ addr: 0x8004n, bytes: new Uint8Array(4) }]);
    expect(answer(xen(17, [0n], 'aarch32')).regs).toEqual([0x40011n]);
  });

  it('writes console_io(CONSOLEIO_write) text as guest output and ends the run on SCHEDOP_shutdown', () => {
    const text = new TextEncoder().encode('hi\n');
    const mem = (addr: bigint, len: number) => (addr === 0x9000n && len === 4 ? new Uint8Array([2, 0, 0, 0]) : addr === 0x8000n ? text.slice(0, len) : null);
    const write = { ...xen(18, [0n, 3n, 0x8000n]), readMem: mem };
    expect(answer(write)).toMatchObject({ handled: true, regs: [0n], output: text });
    expect(answer({ ...xen(18, [0n, 3n, 0x7000n]), readMem: mem }).regs).toEqual([-14n]); // -EFAULT
    const off = answer({ ...xen(29, [2n, 0x9000n]), readMem: mem });
    expect(off).toMatchObject({ handled: true, regs: [], effect: 'xen_shutdown', detail: { reason: 'suspend' } });
  });

  it('answers -ENOSYS, unhandled, to everything else', () => {
    for (const ctx of [xen(17, [1n]), xen(33, [25n, 0x1000n]), xen(99, []), xen(29, [1n, 0n]), xen(18, [1n, 4n, 0n])]) {
      expect(answer(ctx)).toMatchObject({ handled: false, regs: [-38n], note: 'not implemented by the built-in firmware: -ENOSYS' });
    }
    expect(fw.implements(17)).toBe(false); // implements() is about SMCCC function ids
  });
});

describe('legacy platform calls', () => {
  it('acknowledges the Highbank L2 switch without touching registers', () => {
    const args = new Array<bigint>(15).fill(0n);
    args[0] = 1n;
    args[12] = 0x102n;
    const ctx: CallContext = { arch: 'aarch32', conduit: 'smc', imm: 0, args, platform: 'highbank' };
    expect(new Firmware({}).respond(ctx, decodeCall(ctx))).toMatchObject({ handled: true, regs: [] });
  });
});

describe('configuration', () => {
  it('fills unset fields from the defaults', () => {
    const fw = new Firmware({ cpus: 3 });
    expect(fw.config).toEqual({ ...defaultFirmwareConfig, cpus: 3 });
    expect(fw.cpuOn).toEqual([true, false, false]);
    expect(new Firmware({ cpus: undefined, trngSeed: undefined }).config).toEqual(defaultFirmwareConfig);
    expect(() => new Firmware({ trngSeed: Number.NaN })).toThrow(/seed/);
  });

  it('packs UUIDs the SMCCC way', () => {
    expect(uuidToRegs('28b46fb6-2ec5-11e9-a9ca-4b564d003a74')).toEqual([0xb66fb428n, 0xe911c52en, 0x564bcaa9n, 0x743a004dn]);
    expect(() => uuidToRegs('nope')).toThrow();
  });
});

describe('answers the trap path may cache (Firmware.constantAnswer)', () => {
  it.each(CONFIGS)('a call said to be constant gets the same answer whatever its arguments and whatever was called before (%o)', (config) => {
    const fw = new Firmware(config);
    const other = new Firmware(config);
    const constant = SMCCC_CALLS.filter((row) => {
      const ctx = ctxOf(row.id);
      return fw.constantAnswer(ctx, decodeCall(ctx));
    });
    // the cacheable ones include the calls a Linux guest repeats, and not those with arguments or state
    const names = new Set(constant.map((r) => r.name));
    for (const n of ['PSCI_VERSION', 'SMCCC_VERSION', 'TRNG_VERSION']) expect(names).toContain(n);
    for (const n of ['TRNG_RND', 'PSCI_CPU_ON', 'PSCI_FEATURES', 'ARCH_FEATURES', 'PSCI_SYSTEM_OFF']) expect(names).not.toContain(n);
    // ARCH_SOC_ID reads its type argument; without a SoC id it is NOT_SUPPORTED, always
    expect(names.has('ARCH_SOC_ID')).toBe(!config.socId);
    const random = new SplitMix64(7n);
    for (const row of constant) {
      const first = ask(fw, row.id);
      // the other firmware has been busy (CPU_ON, random numbers) and gets other argument registers
      ask(other, 0xc4000003, [1n, 0x40000000n, 0n]);
      ask(other, 0xc4000053, [64n]);
      const again = ask(other, row.id, Array.from({ length: 6 }, () => random.next()));
      expect({ name: row.name, regs: again.regs, effect: again.effect, memWrites: again.memWrites }).toEqual({ name: row.name, regs: first.regs, effect: first.effect, memWrites: first.memWrites });
    }
  });
});
