// The gdb stub at the packet level: a raw socket client checks framing, acks,
// every packet family, error replies and robustness (a bounded fuzz run).
import { describe, it, expect, beforeAll } from 'vitest';
import net from 'node:net';
import { Session } from '../server/session/session.js';
import { registerTable, type CpuArch } from '../server/machine/registers.js';
import { FrameParser, frame, escapeBinary, unescapeBinary, runLengthEncode, regToHex } from '../gdbstub/framing.js';
import { a64Successors } from '../server/machine/step-plan.js';
import { PACKET_NAMES } from '../gdbstub/dispatch.js';
import { armVectors, assemble } from './helpers/asm.js';
import { RspClient as Client, pkt, hex, unhex, unrle, stubFixture, type StubSetup } from './helpers/rsp-client.js';

// ---------------------------------------------------------------- fixtures

type Setup = StubSetup;
const fx = stubFixture();
const serve = fx.serve;

async function connect(s: Setup, features = 'swbreak+;hwbreak+;vContSupported+'): Promise<Client> {
  const c = await fx.connect(s);
  c.write('+');
  await c.req(`qSupported:${features}`);
  return c;
}

const A64 = `.global _start
_start:
  mov x1, #0
  ldr x2, =var
loop:
  add x1, x1, #1
  str x1, [x2]
  ldr x3, [x2, #8]
  cmp x1, #3
  b.ne loop
  ldr x0, =0x8400000a
  ldr x1, =0x80000000
  hvc #0
  ldr x0, =0x84000008
  smc #0
spin:
  b spin
.data
.balign 16
var: .quad 0
     .quad 0x77
`;
const SPIN = `.global _start\n_start:\n  mov x1, #0\n1:\n  add x1, x1, #1\n  b 1b\n`;
const A32 = `.syntax unified\n.arm\n.global _start\n_start:\n  mov r0, #1\n  b _start\n`;

/** Thumb code with an IT block (its second instruction's condition fails). */
const IT_GUEST = `.syntax unified
.arm
.global _start
_start:
  adr r0, thumb_code + 1
  bx r0
.thumb
.thumb_func
thumb_code:
  movs r0, #0
  cmp r0, #0
it_insn:
  ite eq
in_it:
  moveq r1, #1
in_it2:
  movne r1, #2
after_it:
  adds r2, r1, #10
  b after_it
`;

let a64: string;
let spin: string;
let a32: string;
beforeAll(() => {
  a64 = assemble('aarch64', A64, 'proto');
  spin = assemble('aarch64', SPIN, 'spin');
  a32 = assemble('arm', A32, 'proto32');
});

async function readDocument(c: Client, object: string, annex: string): Promise<string> {
  let doc = '';
  for (;;) {
    const r = await c.req(`qXfer:${object}:read:${annex}:${doc.length.toString(16)},200`);
    expect(r[0]).toMatch(/[ml]/);
    doc += r.slice(1);
    if (r[0] === 'l') return doc;
  }
}

/** Registers as target.xml lists them: name, bitsize, regnum, feature. */
function xmlRegisters(xml: string) {
  const out: { name: string; bits: number; regnum: number; feature: string }[] = [];
  for (const f of xml.matchAll(/<feature name="([^"]+)">([\s\S]*?)<\/feature>/g)) {
    for (const r of f[2].matchAll(/<reg name="([^"]+)" bitsize="(\d+)" regnum="(\d+)"/g)) {
      out.push({ name: r[1], bits: Number(r[2]), regnum: Number(r[3]), feature: f[1] });
    }
  }
  return out;
}

// ---------------------------------------------------------------- tests

describe('gdb stub: framing', () => {
  it('parses a packet split at any point, and binary data with escapes', () => {
    const data = 'X40123456,6:' + escapeBinary('a$#}*\x03');
    const wire = Buffer.concat([Buffer.from('+'), frame(data), Buffer.from('\x03-'), frame('qC')]);
    const whole = new FrameParser(0x1000).push(wire);
    expect(whole).toEqual([{ kind: 'ack' }, { kind: 'packet', data }, { kind: 'interrupt' }, { kind: 'nack' }, { kind: 'packet', data: 'qC' }]);
    for (let cut = 1; cut < wire.length; cut++) {
      const p = new FrameParser(0x1000);
      expect([...p.push(wire.subarray(0, cut)), ...p.push(wire.subarray(cut))]).toEqual(whole);
      // the bytes come in one buffer used again for each read (hosted.ts): what the parser keeps is its own
      const scratch = Buffer.alloc(wire.length);
      const q = new FrameParser(0x1000);
      const got = [];
      for (const part of [wire.subarray(0, cut), wire.subarray(cut)]) {
        part.copy(scratch);
        got.push(...q.push(scratch.subarray(0, part.length)));
        scratch.fill(0x55);
      }
      expect(got).toEqual(whole);
    }
    expect(Buffer.from(unescapeBinary(data.slice(12))!).toString('latin1')).toBe('a$#}*\x03');
    expect(unescapeBinary('ab}')).toBeNull();
    // replies are run-length encoded the way gdb expands them
    for (const t of ['0000', 'ab' + '0'.repeat(200) + 'cd', '1'.repeat(7), '1'.repeat(8), '}]]]]]]', 'xyz', '00001111' + 'ab'.repeat(5) + '2'.repeat(300) + 'c', '12345678aaaa']) {
      const e = runLengthEncode(t);
      expect(unrle(e)).toBe(t);
      expect(e).not.toMatch(/[#$]/);
    }
    expect(runLengthEncode('0'.repeat(64)).length).toBeLessThan(8);
    const big = new FrameParser(16);
    expect(big.push(frame('xy'.repeat(9)))).toEqual([{ kind: 'oversized', size: 18 }]);
    expect(big.push(frame('ok'))).toEqual([{ kind: 'packet', data: 'ok' }]);
  });
});

describe('gdb stub: single-step prediction', () => {
  const regs = (extra: Record<string, bigint> = {}) => new Map(Object.entries({ pc: 0x1000n, cpsr: 0x3c5n, SCTLR_EL1: 0xc50838n, x1: 0x2222n, x30: 0x3330n, ...extra }));
  it('names every successor, or leaves the step to the core', () => {
    const at = (...a: bigint[]) => ({ at: a });
    const nextBlock = { at: [], blockInsns: 1 };
    expect(a64Successors(0x14000002, regs())).toEqual(at(0x1008n));               // b .+8
    expect(a64Successors(0x17ffffff, regs())).toEqual(at(0xffcn));                // b .-4
    expect(a64Successors(0x94000010, regs())).toEqual(at(0x1040n));               // bl
    expect(a64Successors(0x54000040, regs())).toEqual(at(0x1004n, 0x1008n));      // b.eq .+8
    expect(a64Successors(0xb4000046, regs())).toEqual(at(0x1004n, 0x1008n));      // cbz x6, .+8
    expect(a64Successors(0x36100067, regs())).toEqual(at(0x1004n, 0x100cn));      // tbz w7, #2, .+12
    expect(a64Successors(0xd61f0020, regs())).toEqual(at(0x2222n));               // br x1
    expect(a64Successors(0xd63f0020, regs())).toEqual(at(0x2222n));               // blr x1
    expect(a64Successors(0xd65f03c0, regs())).toEqual(at(0x3330n));               // ret
    expect(a64Successors(0xd4000003, regs())).toEqual(nextBlock);                 // smc #0: on, or to the undef vector
    expect(a64Successors(0xd4000002, regs())).toEqual(nextBlock);                 // hvc
    expect(a64Successors(0xd503201f, regs())).toEqual(at(0x1004n));               // nop
    expect(a64Successors(0x8b020020, regs())).toEqual(at(0x1004n));               // add
    expect(a64Successors(0xd69f03e0, regs())).toEqual(nextBlock);                 // eret
    expect(a64Successors(0xd71f0820, regs())).toEqual(nextBlock);                 // braa
    expect(a64Successors(0xd503207f, regs())).toBeUndefined();                    // wfi
    expect(a64Successors(0xd503205f, regs())).toBeUndefined();                    // wfe
    expect(a64Successors(0x8b020020, regs({ SCTLR_EL1: 0xc50839n }))).toBeUndefined(); // MMU on
    expect(a64Successors(0x8b020020, regs({ cpsr: 0x10n }))).toBeUndefined();    // AArch32 EL0
  });
});

describe('gdb stub: set-up', () => {
  it('advertises exactly what it implements, with PacketSize >= 0x4000', async () => {
    const s = await serve(a64);
    const c = await fx.connect(s);
    const reply = await c.req('qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vContSupported+');
    const features = reply.split(';');
    const size = features.find((f) => f.startsWith('PacketSize='));
    expect(parseInt(size!.slice(11), 16)).toBeGreaterThanOrEqual(0x4000);
    expect(features.filter((f) => f !== size).sort()).toEqual(
      ['QStartNoAckMode+', 'hwbreak+', 'qXfer:features:read+', 'qXfer:memory-map:read+', 'qXfer:threads:read+', 'swbreak+', 'vContSupported+'].sort());
    // and each of them works
    expect(await c.req('vCont?')).toBe('vCont;c;C;s;S;t');
    expect((await c.req('qXfer:features:read:target.xml:0,10'))[0]).toBe('m');
    expect((await c.req('qXfer:memory-map:read::0,1000'))[0]).toBe('l');
    expect(await c.req('qXfer:threads:read::0,1000')).toMatch(/^l<\?xml version="1.0"\?>\n<threads>\n  <thread id="1" core="0" name="vCPU 0 \(aarch64, stopped\)"\/>\n<\/threads>/);
    await c.noAck();
    expect(await c.req('qC')).toBe('QC1');
  });

  it('acks packets, asks again after a bad checksum and resends on -', async () => {
    const s = await serve(a64);
    const c = await connect(s);
    const acks = c.acks;
    c.write('$qC#00');
    await new Promise((r) => setTimeout(r, 50));
    expect(c.nacks).toBe(1);
    expect(c.packets).toHaveLength(0);
    expect(await c.req('qC')).toBe('QC1');
    expect(c.acks).toBe(acks + 1);
    c.write('-');
    expect(await c.next()).toBe('QC1');
    // after QStartNoAckMode the stub sends no more acks
    await c.noAck();
    const before = c.acks;
    expect(await c.req('qAttached')).toBe('1');
    expect(c.acks).toBe(before);
  });

  it('answers unknown, malformed, truncated and oversized packets and goes on', async () => {
    const s = await serve(a64);
    const c = await connect(s);
    await c.noAck();
    expect(await c.req('qTStatus')).toBe('');
    expect(await c.req('vMustReplyEmpty')).toBe('');
    expect(await c.req('j')).toBe('');
    expect(await c.req('mzz,4')).toBe('E16');
    expect(await c.req('m40000000')).toBe('E16');
    expect(await c.req('M40000000,4:zz')).toBe('E16');
    expect(await c.req('Pff=00')).toBe('E16');
    expect(await c.req('Z0,zz,4')).toBe('E16');
    expect(await c.req('Hg7')).toBe('E03');
    expect(await c.req('vCont;x')).toBe('E16');
    expect(await c.req('qXfer:features:read:nothing.xml:0,100')).toBe('E16');
    expect(await c.req('qRcmd,zz')).toBe('E16');
    c.write('$m40000000,4'); // cut short: the next $ starts over
    expect(await c.req('qC')).toBe('QC1');
    c.write('garbage between packets\x01\x02');
    expect(await c.req('qC')).toBe('QC1');
    c.write(pkt('X40000000,4:' + 'A'.repeat(0x30000)));
    expect(await c.next()).toBe('E07');
    expect(await c.req('?')).toMatch(/^T05thread:1;/);
  });

  it('serves target.xml from the register table (AArch64 and AArch32), g/p in the same order', async () => {
    for (const [arch, elf] of [['aarch64', a64], ['arm', a32]] as [CpuArch, string][]) {
      const s = await serve(elf);
      const c = await connect(s);
      await c.noAck();
      const xml = await readDocument(c, 'features', 'target.xml');
      expect(xml).toContain(`<architecture>${arch === 'aarch64' ? 'aarch64' : 'arm'}</architecture>`);
      const regs = xmlRegisters(xml);
      const table = registerTable(arch);
      expect(regs.map((r) => r.name).sort()).toEqual(table.map((r) => r.name).sort());
      for (const t of table) expect(regs.find((r) => r.name === t.name)).toEqual({ name: t.name, bits: t.bits, regnum: t.regnum, feature: t.feature });
      const cpsr = regs.find((r) => r.name === 'cpsr')!;
      expect(cpsr.bits).toBe(32);
      expect(cpsr.regnum).toBe(arch === 'aarch64' ? 33 : 25);
      expect(cpsr.feature).toBe(arch === 'aarch64' ? 'org.gnu.gdb.aarch64.core' : 'org.gnu.gdb.arm.core');
      const g = await c.req('g');
      const sorted = [...regs].sort((a, b) => a.regnum - b.regnum);
      expect(g.length).toBe(sorted.reduce((n, r) => n + r.bits / 4, 0));
      let at = 0;
      for (const r of sorted) {
        const p = await c.req(`p${r.regnum.toString(16)}`);
        expect([r.name, p]).toEqual([r.name, g.slice(at, at + r.bits / 4)]);
        at += r.bits / 4;
      }
      const pc = sorted.find((r) => r.name === 'pc')!;
      expect(await c.req(`p${pc.regnum.toString(16)}`)).toBe(arch === 'aarch64' ? '0000004000000000' : '00000040');
      // g and p read registers in gdb's form on the emulation thread; the Session reads them as text:
      // with values in every byte (general registers, a 128-bit one, a 32-bit one), both say the same
      const wide = table.find((r) => r.bits === 128);
      const pattern = (i: number, bits: number) => '0x' + Array.from({ length: bits / 8 }, (_, k) => ((i * 37 + k * 11 + 1) & 0xff).toString(16).padStart(2, '0')).join('');
      const written = table.filter((r) => (r.group === 'general' && r.name !== 'pc' && r.name !== 'cpsr') || r === wide);
      for (const [i, r] of written.entries()) {
        const w = await s.session.connect('test').writeRegister({ name: r.name, value: pattern(i + 1, r.bits) });
        expect([r.name, w.ok ? 'ok' : w.error]).toEqual([r.name, 'ok']);
      }
      const text = await s.session.readRegisters(sorted.map((r) => r.name));
      expect(text.ok).toBe(true);
      const g2 = await c.req('g');
      at = 0;
      for (const r of sorted) {
        const v = text.ok ? text.value[r.name] : undefined;
        if (v !== undefined) expect([r.name, g2.slice(at, at + r.bits / 4)]).toEqual([r.name, regToHex(BigInt(v), r.bits / 8)]);
        at += r.bits / 4;
      }
      for (const r of [...written.slice(0, 3), ...(wide ? [wide] : [])]) {
        expect(await c.req(`p${r.regnum.toString(16)}`)).toBe(regToHex(BigInt(text.ok ? text.value[r.name] : 0), r.bits / 8));
      }
      // the stop reply expedites the core registers (its frame built natively, td_stop_frame): as g says them
      const stop = await c.req('?');
      expect(stop).toMatch(/^T05thread:1;/);
      const expedited = stop.slice('T05thread:1;'.length).split(';').filter(Boolean).map((kv) => kv.split(':'));
      const core = sorted.filter((r) => r.feature.endsWith('.core'));
      expect(expedited.map(([n]) => n)).toEqual(core.map((r) => r.regnum.toString(16)));
      at = 0;
      for (const r of sorted) {
        const e = expedited.find(([n]) => n === r.regnum.toString(16));
        if (e) expect([r.name, e[1]]).toEqual([r.name, g2.slice(at, at + r.bits / 4)]);
        at += r.bits / 4;
      }
    }
  });

  it('writes registers with P and G', async () => {
    const s = await serve(a64);
    const c = await connect(s);
    await c.noAck();
    expect(await c.req('P5=efcdab8967452301')).toBe('OK');
    expect(await c.req('p5')).toBe('efcdab8967452301');
    const g = await c.req('g');
    const g2 = g.slice(0, 16 * 6) + '1100000000000000' + g.slice(16 * 7);
    expect(await c.req('G' + g2)).toBe('OK');
    expect(await c.req('p6')).toBe('1100000000000000');
    expect((await s.session.readRegisters(['x6']))).toEqual({ ok: true, value: { x6: '0x11' } });
    const midr = registerTable('aarch64').find((r) => r.name === 'MIDR_EL1')!;
    expect(await c.req(`P${midr.regnum.toString(16)}=0000000000000000`)).toBe('E05');
    expect(await c.req('G00')).toBe('E16');
  });
});

describe('gdb stub: memory', () => {
  it('reads and writes RAM (m, M, binary X) and answers E14 for unmapped memory', async () => {
    const s = await serve(a64);
    const c = await connect(s);
    await c.noAck();
    const first = await c.req('m40000000,8');
    expect(first).toBe(Buffer.from((await s.session.readMemory(0x4000_0000n, 8) as { value: Uint8Array }).value).toString('hex'));
    expect(await c.req('m10,4')).toBe('E0e');
    expect(await c.req('m40000000,0')).toBe('E16');
    // a read across the end of RAM answers the readable part
    const end = 0x4000_0000n + (128n << 20n);
    expect(await c.req(`m${(end - 4n).toString(16)},8`)).toBe('00000000');
    expect(await c.req('M40100000,4:deadbeef')).toBe('OK');
    expect(await c.req('m40100000,4')).toBe('deadbeef');
    // X: $ # } * escaped as } then byte ^ 0x20
    const bytes = [0x24, 0x23, 0x7d, 0x2a, 0x00, 0xff];
    const esc = bytes.map((b) => ([0x24, 0x23, 0x7d, 0x2a].includes(b) ? '}' + String.fromCharCode(b ^ 0x20) : String.fromCharCode(b))).join('');
    expect(await c.req(`X40100010,${bytes.length.toString(16)}:${esc}`)).toBe('OK');
    expect(await c.req(`m40100010,${bytes.length.toString(16)}`)).toBe(Buffer.from(bytes).toString('hex'));
    expect(await c.req('X40100010,0:')).toBe('OK');
    expect(await c.req('X10,1:a')).toBe('E0e');
    expect(await c.req('X40100010,2:a')).toBe('E16');
    const map = await readDocument(c, 'memory-map', '');
    expect(map).toContain('<memory type="ram" start="0x40000000" length="0x8000000"/>');
    expect(map).not.toContain('0x9000000'); // the UART is not RAM
  });

  it('memory reads answered as the packets arrive (td_take, up to 1 KiB of RAM) say what the session reads', async () => {
    const s = await serve(a64);
    const c = await connect(s);
    await c.noAck();
    // runs for the run-length encoding, and bytes of every value
    const pattern = Buffer.alloc(0x3000);
    for (let i = 0; i < pattern.length; i++) pattern[i] = i % 97 < 40 ? 0 : i % 7 < 3 ? 0xff : (i * 37) & 0xff;
    for (let i = 0; i < pattern.length; i += 0x800) expect(await c.req(`M${(0x4010_0000 + i).toString(16)},800:${pattern.subarray(i, i + 0x800).toString('hex')}`)).toBe('OK');
    const end = 0x4000_0000n + (128n << 20n);
    let x = 7;
    const rand = (n: number) => { x = (x * 1103515245 + 12345) & 0x7fffffff; return x % n; };
    const reads: [bigint, number][] = [[end - 1n, 1], [end - 0x400n, 0x400], [0x4000_0000n, 0x400], [0x4010_0000n, 0x401], [0x4010_0000n, 0x3000]];
    for (let k = 0; k < 200; k++) reads.push([0x4010_0000n + BigInt(rand(0x2c00)), 1 + rand(0x420)]);
    for (const [addr, len] of reads) {
      const want = await s.session.readMemory(addr, len);
      expect(want.ok).toBe(true);
      const packet = `m${addr.toString(16)},${len.toString(16)}`;
      expect([packet, await c.req(packet)]).toEqual([packet, Buffer.from((want as { value: Uint8Array }).value).toString('hex')]);
    }
    expect(await c.req(`m${end.toString(16).toUpperCase()},4`)).toBe('E0e');
    expect(await c.req(`m${(end - 2n).toString(16).toUpperCase()},4`)).toBe('0000');
  });

  it('a client that sends memory reads without reading the replies gets every reply, in order, once it reads', async () => {
    const s = await serve(a64);
    const sock = net.connect(s.server.port, '127.0.0.1');
    sock.setNoDelay(true);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    let got = '';
    sock.on('data', (b) => { got += b.toString('latin1'); });
    const until = async (re: RegExp) => { for (let i = 0; i < 500 && !re.test(got); i++) await new Promise((r) => setTimeout(r, 10)); };
    sock.write('+' + pkt('QStartNoAckMode'));
    await until(/\$OK#9a/);
    sock.write('+');
    got = '';
    // 20 000 replies of 2 KiB: far more than the socket holds while nobody reads
    sock.pause();
    const N = 20000;
    const reads = Array.from({ length: N }, (_, i) => 0x4000_0000 + ((i * 0x400) % 0x10_0000));
    // one packet per write, as gdb sends them (each is answered as it comes, until the replies back up)
    for (const a of reads) { sock.write(pkt(`m${a.toString(16)},400`)); await new Promise((r) => setImmediate(r)); }
    await new Promise((r) => setTimeout(r, 300));
    sock.resume();
    const frames = () => got.match(/\$[^#]*#[0-9a-f]{2}/g) ?? [];
    for (let i = 0; i < 3000 && frames().length < N; i++) await new Promise((r) => setTimeout(r, 10));
    const replies = frames().map((f) => unrle(f.slice(1, -3)));
    expect(replies.length).toBe(N);
    for (const [i, a] of reads.entries()) {
      if (i % 97) continue;
      const want = await s.session.readMemory(BigInt(a), 0x400);
      expect(replies[i]).toBe(Buffer.from((want as { value: Uint8Array }).value).toString('hex'));
    }
    sock.destroy();
  });
});

describe('gdb stub: run control, breakpoints, watchpoints, traps', () => {
  it('steps with vCont and expedites the core registers in the stop reply', async () => {
    const s = await serve(a64);
    const c = await connect(s);
    await c.noAck();
    const stop = await c.req('vCont;s:1;c');
    expect(stop).toMatch(/^T05thread:1;/);
    expect(stop).toContain('20:0400004000000000;'); // pc (regnum 32) after one step
    expect(stop).toContain('21:'); // cpsr
    expect(stop).toContain('1f:'); // sp
    expect(await c.req('s')).toContain('20:0800004000000000;');
    expect(await c.req('Hc-1')).toBe('OK');
    expect(await c.req('qfThreadInfo')).toBe('m1');
    expect(await c.req('qsThreadInfo')).toBe('l');
    expect(unhex(await c.req('qThreadExtraInfo,1'))).toMatch(/vCPU 0/);
    expect(await c.req('T1')).toBe('OK');
    expect(await c.req('T2')).toBe('E03');
  });

  it('single steps (the core soft step) go where the Unicorn counted step goes (branches, calls, returns, traps)', async () => {
    const src = `.global _start
_start:
  ldr x0, =vectors
  msr vbar_el1, x0
  mov x5, #3
1: subs x5, x5, #1
  b.ne 1b
  mov x6, #0
  cbz x6, 2f
  nop
2: cbnz x6, 3f
  mov x7, #4
3: tbz x7, #2, 4f
  tbnz x7, #2, 4f
  nop
4: bl func
  adr x8, 5f
  br x8
  nop
5: ldr x0, =0x80000000
  hvc #0
  ldr x0, =0x82000010
  smc #0
  b .
func:
  add x9, x9, #1
  ret
.balign 2048
vectors:
  .space 0x200
  mov x10, #1
  ldr x0, =0x84000008
  smc #0
`;
    // pc (32) and the registers the guest changes, against the core's own single step
    await compareSteps(assemble('aarch64', src, 'steps'), 40, [32, 0, 5, 6, 7, 8, 9, 10].map((n) => [n, n === 32 ? 'pc' : `x${n}`]));
  });

  it('AArch32 soft steps (ARM and Thumb) go where the Unicorn counted step goes', async () => {
    const src = `.syntax unified
.arm
.global _start
_start:
  ldr sp, =0x40100000
  ldr r0, =vectors
  mcr p15, 0, r0, c12, c0, 0
  mov r4, #2
1: subs r4, r4, #1
  bne 1b
  bl arm_func
  ldr r1, =thumb_code + 1
  blx r1
  ldr r2, =back
  ldr pc, =back
  nop
back:
  cmp r4, #0
  moveq r5, #7
  ldr r0, =0x82000010
  smc #0
  b .
arm_func:
  push {r4, lr}
  add r6, r6, #1
  pop {r4, pc}
.thumb
.thumb_func
thumb_code:
  push {r7, lr}
  movs r3, #0
  cbz r3, 2f
  nop
2: cmp r3, #1
  beq 6f
  b.w 6f
  nop
6: ite eq
  moveq r3, #5
  movne r3, #6
  bl thumb_func
  adr r7, 3f + 1
  bx r7
  nop
.balign 4
3: ldr.w r0, =0x80000000
  smc #0
  pop {r7, pc}
.thumb_func
thumb_func:
  adds r3, r3, #1
  mov pc, lr
.arm
${armVectors('und')}und:
  mov r9, lr
  ldr r0, =0x84000008
  smc #0
`;
    await compareSteps(assemble('arm', src, 'steps32'), 80,
      registerTable('arm').filter((d) => d.feature === 'org.gnu.gdb.arm.core').map((r) => [r.regnum, r.name]));
  });

  it('reports swbreak at a breakpoint and watch/rwatch/awatch with the exact data address', async () => {
    const s = await serve(a64);
    const c = await connect(s);
    await c.noAck();
    const loop = s.session.symbol('loop')!.value;
    const v = s.session.symbol('var')!.value;
    expect(await c.req(`Z0,${loop.toString(16)},4`)).toBe('OK');
    expect(await c.req('c')).toMatch(/^T05swbreak:;thread:1;/);
    expect(await c.req(`z0,${loop.toString(16)},4`)).toBe('OK');
    expect(await c.req(`Z2,${v.toString(16)},8`)).toBe('OK');
    expect(await c.req('c')).toMatch(new RegExp(`^T05watch:${v.toString(16)};thread:1;`));
    expect(await c.req(`z2,${v.toString(16)},8`)).toBe('OK');
    expect(await c.req(`Z3,${(v + 8n).toString(16)},8`)).toBe('OK');
    expect(await c.req('c')).toMatch(new RegExp(`^T05rwatch:${(v + 8n).toString(16)};`));
    expect(await c.req(`z3,${(v + 8n).toString(16)},8`)).toBe('OK');
    // an access watchpoint over both words: the store hits its first byte
    expect(await c.req(`Z4,${v.toString(16)},10`)).toBe('OK');
    expect(await c.req('c')).toMatch(new RegExp(`^T05awatch:${v.toString(16)};`));
    expect(await c.req(`z4,${v.toString(16)},10`)).toBe('OK');
    expect(await c.req('Z9,0,4')).toBe(''); // an unknown type is unsupported
  });

  it('refuses a breakpoint inside a Thumb IT block with the reason, and keeps the IT condition', async () => {
    const elf = assemble('arm', IT_GUEST, 'proto-it');
    const s = await serve(elf);
    const c = await connect(s);
    await c.noAck();
    const at = (name: string) => (s.session.symbol(name)!.value & ~1n).toString(16);
    expect(await c.req(`Z0,${at('in_it2')},2`)).toBe('OK');
    expect(await c.req(`Z0,${at('after_it')},2`)).toBe('OK');
    const r = await c.ask('c');
    expect(r.console).toContain(`could not be set: 0x${at('in_it2')} is inside the Thumb IT block of the IT instruction at 0x${at('it_insn')}`);
    expect(r.console).toContain(`break at 0x${at('it_insn')} instead`);
    expect(r.reply).toMatch(/^T05swbreak:;/);
    expect(await c.req('p1')).toBe('01000000'); // r1: the moveq ran, the movne did not
    expect(await c.req('pf')).toBe(regToHex(BigInt('0x' + at('after_it')), 4)); // pc
    // the IT instruction itself takes a breakpoint
    const s2 = await serve(elf);
    const c2 = await connect(s2);
    await c2.noAck();
    expect(await c2.req(`Z0,${at('it_insn')},2`)).toBe('OK');
    const r2 = await c2.ask('c');
    expect(r2.console).toBe('');
    expect(r2.reply).toMatch(/^T05swbreak:;/);
    expect(await c2.req('pf')).toBe(regToHex(BigInt('0x' + at('it_insn')), 4));
  });

  it('sends the trap summary as an O packet before the stop reply; monitor commands answer', async () => {
    const s = await serve(a64);
    const c = await connect(s);
    await c.noAck();
    const bo = await c.ask(`qRcmd,${hex('break-on hvc')}`);
    expect(bo.reply).toBe('OK');
    expect(bo.console).toContain('break-on-1: hvc -> ask');
    const stop = await c.ask('c');
    expect(stop.console).toBe('Trap #1: HVC #0x0 PSCI FEATURES(func=0x80000000 SMCCC_VERSION)\n');
    expect(stop.reply).toMatch(/^T05thread:1;/);
    expect((await c.ask('?')).console).toBe(''); // ? reports where it is, quietly
    const trap = await c.ask(`qRcmd,${hex('trap')}`);
    expect(trap.console).toMatch(/^Trap #1: HVC #0x0 at 0x[0-9a-f]+ \(aarch64/);
    const bad = await c.ask(`qRcmd,${hex('decide maybe')}`);
    expect(bad.reply).toBe('E16');
    expect(bad.console).toContain("unknown action 'maybe'");
    expect((await c.ask(`qRcmd,${hex('policy add 0x84000008=return(x0=0)')}`)).console).toContain('Added gdb1: id 0x84000008 -> return(x0=0x0)');
    expect((await c.ask(`qRcmd,${hex('policy')}`)).console).toMatch(/break-on-1: hvc -> ask\ngdb1: id 0x84000008 -> return\(x0=0x0\)\ndefault -> emulate/);
    expect((await c.ask(`qRcmd,${hex('nonsense')}`)).console).toContain("unknown monitor command 'nonsense'");
    // continue with no decision applies the default (emulate); the added rule answers
    // SYSTEM_OFF with 0, so the guest spins until Ctrl-C
    c.send('c');
    await new Promise((r) => setTimeout(r, 100));
    c.write('\x03');
    expect(await c.next()).toMatch(/^T02thread:1;/);
    expect(await c.req('p0')).toBe('0000000000000000');
    const log = (await c.ask(`qRcmd,${hex('traps')}`)).console.split('\n');
    expect(log[2]).toMatch(/^1 .*PSCI FEATURES.*emulate \(default/);
    expect(log[3]).toMatch(/^2 .*SYSTEM_OFF.*return \(rule gdb1\)/);
  });

  it('Ctrl-C (0x03) pauses a running guest; disconnecting while it runs leaves it paused and re-attachable', async () => {
    const s = await serve(spin);
    const c = await connect(s);
    await c.noAck();
    c.send('c');
    await new Promise((r) => setTimeout(r, 100));
    expect(s.session.state).toBe('running');
    const t0 = Date.now();
    c.write('\x03');
    expect(await c.next()).toMatch(/^T02thread:1;/);
    expect(Date.now() - t0).toBeLessThan(1000);
    c.send('c');
    await new Promise((r) => setTimeout(r, 100));
    expect(s.session.state).toBe('running');
    c.close();
    for (let i = 0; i < 100 && s.session.state === 'running'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(s.session.state).toBe('stopped');
    const c2 = await connect(s);
    expect(await c2.req('?')).toMatch(/^T02thread:1;/);
    expect(await c2.req('s')).toMatch(/^T05thread:1;/);
  });

  it('refuses a second client with a message, then serves the next one after the first leaves', async () => {
    const s = await serve(a64);
    const c = await connect(s);
    const second = await fx.connect(s);
    second.send('qSupported');
    expect(await second.next()).toMatch(/^E\.Trapdoor: another gdb \(127\.0\.0\.1:\d+\) is attached to this session; one client at a time$/);
    await new Promise((r) => setTimeout(r, 50));
    expect(second.closed).toBe(true);
    expect(s.server.clients()).toBe(1);
    c.close();
    for (let i = 0; i < 100 && s.server.clients(); i++) await new Promise((r) => setTimeout(r, 10));
    const third = await connect(s);
    expect(await third.req('?')).toMatch(/^T05thread:1;/);
  });

  it('forwards guest UART output while the guest runs (guestOutput) and reports the end with W00', async () => {
    const elf = assemble('aarch64', `.global _start
_start:
  ldr x1, =0x09000000
  adr x2, msg
1: ldrb w0, [x2], #1
  cbz w0, 2f
  strb w0, [x1]
  b 1b
2: ldr x0, =0x84000008
  smc #0
msg: .asciz "hello from the guest\\n"
`, 'uart');
    const s = await serve(elf, {}, true);
    const c = await connect(s);
    await c.noAck();
    const end = await c.ask('c');
    expect(end.console).toBe('hello from the guest\nTrapdoor: the guest ended: guest called PSCI SYSTEM_OFF\n');
    expect(end.reply).toBe('W00');
    expect(await c.req('?')).toBe('W00');
    expect(await c.req('c')).toBe('W00');
  });

  it('k leaves the session alive and paused', async () => {
    const s = await serve(a64);
    const c = await connect(s);
    c.send('k');
    for (let i = 0; i < 100 && !c.closed; i++) await new Promise((r) => setTimeout(r, 10));
    expect(c.closed).toBe(true);
    expect(unhex(c.packets.find((p) => p.startsWith('O'))!.slice(1))).toMatch(/kill does not end the service; the session stays stopped/);
    expect(s.session.state).toBe('stopped');
    const c2 = await connect(s);
    expect(await c2.req('?')).toMatch(/^T05/);
  });
});

// ---------------------------------------------------------------- fuzz

/** xorshift32: the same packets on every run. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 0x1_0000_0000; };
}

const VALID = ['?', 'g', 'p20', 'P1=0100000000000000', 'm40000000,40', 'M40100000,2:abcd', 'X40100000,1:\x7d\x03', 'Z0,40000008,4', 'z0,40000008,4',
  'Z2,40100000,8', 'z2,40100000,8', 'Z3,40100000,4', 'Z4,40100000,4', 'qSupported:swbreak+', 'qXfer:features:read:target.xml:0,ffb', 'qXfer:memory-map:read::0,ffb',
  'qC', 'qfThreadInfo', 'qsThreadInfo', 'qAttached', 'Hg1', 'Hc-1', 'T1', 'vCont?', 'vCont;s:1', 's', `qRcmd,${hex('help')}`, `qRcmd,${hex('traps 3')}`,
  `qRcmd,${hex('policy')}`, `qRcmd,${hex('trap')}`, 'qThreadExtraInfo,1', 'QStartNoAckMode', 'qSymbol::', ...PACKET_NAMES];

describe('gdb stub: fuzz', () => {
  it('survives random and mutated packets and still answers ? correctly', async () => {
    const s = await serve(a64);
    const rand = rng(0x7ad00);
    let c = await connect(s);
    const pick = <T>(a: readonly T[]) => a[Math.floor(rand() * a.length)];
    const randomText = (n: number) => Array.from({ length: n }, () => String.fromCharCode(Math.floor(rand() * 256))).join('');
    for (let i = 0; i < 1500; i++) {
      if (c.closed) c = await connect(s);
      const base = pick(VALID);
      let data: string;
      switch (Math.floor(rand() * 6)) {
        case 0: data = randomText(Math.floor(rand() * 40)); break;
        case 1: data = base.slice(0, Math.floor(rand() * base.length)); break; // truncated
        case 2: { const at = Math.floor(rand() * base.length); data = base.slice(0, at) + randomText(1) + base.slice(at + 1); break; }
        case 3: data = base + randomText(Math.floor(rand() * 8)); break;
        case 4: data = pick(['c', 'C05', 'vCont;c', 'S05', 'D', 'k', 'vCont;t', '!']) ; break;
        default: data = base;
      }
      const framing = rand();
      if (framing < 0.05) c.write(`$${data}#zz`);               // bad checksum
      else if (framing < 0.08) c.write(`$${data}`);            // never ends
      else if (framing < 0.11) c.write('\x03');                // Ctrl-C
      else if (framing < 0.13) c.write('-');                   // resend request
      else c.write(pkt(data));
      if (s.session.state === 'running' && rand() < 0.5) c.write('\x03');
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    // whatever state it is in now, a client gets a proper stop reply
    if (!c.closed) { c.write('\x03'); c.close(); }
    for (let i = 0; i < 200 && s.server.clients(); i++) await new Promise((r) => setTimeout(r, 10));
    const fresh = await connect(s);
    await fresh.noAck();
    expect(await fresh.req('?')).toMatch(/^(T[0-9a-f]{2}thread:1;([0-9a-f]+:[0-9a-f]+;)+|W00)$/);
    expect(await fresh.req('qC')).toBe('QC1');
    expect(s.logs.join('\n')).not.toMatch(/internal error/);
  }, 30_000);
});

/**
 * Single-steps the guest through the stub (vCont;s, the core's soft step) and,
 * beside it, a second Session stepping with Unicorn's counted run, comparing each stop's expedited registers [regnum, name]
 * until the guest ends (within `limit` steps).
 */
async function compareSteps(elf: string, limit: number, regs: [number, string][]) {
  const policy = { default: { action: 'emulate' as const }, rules: [{ id: 'u', match: { id: 0x82000010 }, action: 'undef' as const }] };
  const s = await serve(elf, { policy });
  const oracle = await Session.open({ image: { path: elf }, policy, softStep: false });
  if (!oracle.ok) throw new Error(oracle.error);
  const me = oracle.value.connect('oracle');
  try {
    const c = await connect(s);
    await c.noAck();
    for (let i = 0; i < limit; i++) {
      const stop = await c.req('vCont;s:1');
      const want = await me.step();
      if (!want.ok) throw new Error(want.error);
      if (want.value.reason === 'exit') { expect(stop).toBe('W00'); return; }
      expect([i, want.value.reason]).toEqual([i, 'step']);
      const expedited = stop.slice(stop.indexOf('thread:1;') + 9);
      const got = new Map([...expedited.matchAll(/([0-9a-f]+):([0-9a-f]+);/g)].map((m) => [parseInt(m[1], 16), BigInt('0x' + Buffer.from(m[2], 'hex').reverse().toString('hex'))]));
      for (const [n, name] of regs) expect([i, name, got.get(n)]).toEqual([i, name, BigInt(((await me.readRegisters({ names: [name] })) as { value: Record<string, string> }).value[name])]);
    }
    throw new Error(`the guest did not end within ${limit} steps`);
  } finally {
    await oracle.value.close();
  }
}
