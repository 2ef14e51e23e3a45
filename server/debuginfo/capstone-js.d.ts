// The part of @alexaltea/capstone-js (Capstone 5 compiled to WebAssembly, CommonJS, no types) we use.
declare module '@alexaltea/capstone-js' {
  interface CsInstruction { id: number; address: bigint; size: number; bytes: number[]; mnemonic: string; op_str: string }
  interface CsHandle {
    disasm(buffer: ArrayLike<number>, addr: bigint | number, max?: number): CsInstruction[];
    option(option: number, value: number): void;
    close(): void;
  }
  interface CsModule {
    Capstone: new (arch: number, mode: number) => CsHandle;
    ARCH_ARM: number; ARCH_ARM64: number;
    MODE_ARM: number; MODE_THUMB: number; MODE_LITTLE_ENDIAN: number; MODE_V8: number; MODE_MCLASS: number;
    OPT_UNSIGNED: number; OPT_ON: number;
  }
  const MCapstone: (moduleArg?: object) => Promise<CsModule>;
  export default MCapstone;
}
