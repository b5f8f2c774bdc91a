package runtime

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
)

// The pause process holds a pod's shared PID namespace when the pod asks
// for shareProcessNamespace: it is PID 1 there, as Kubernetes' pause
// container is, so that the pod's containers can come and go (and restart)
// while the namespace stays. Shoal has no pause image to pull: the program
// is small enough to write out here, a static executable of a few
// instructions, so that it needs nothing from any image and no file from
// the node.
//
// It does what a namespace's init must: it sets SIGCHLD to SIG_IGN, so
// that the kernel reaps the orphans the pod's containers leave behind
// (they are re-parented to it), and then sleeps forever. As a namespace's
// init it receives only SIGKILL from outside, which is how it is stopped.
//
// The machine code was assembled with Go's assembler and checked with
// `go tool objdump`; TestPauseBinary runs the one for the machine the
// tests run on.
var pauseCode = map[string]struct {
	machine elf.Machine
	code    []byte
}{
	"amd64": {elf.EM_X86_64, []byte{
		0x31, 0xc0, // XORL AX, AX
		0x50,       // PUSHQ AX: sa_mask = 0
		0x50,       // PUSHQ AX: sa_restorer = 0
		0x50,       // PUSHQ AX: sa_flags = 0
		0x6a, 0x01, // PUSHQ $1: sa_handler = SIG_IGN
		0xbf, 0x11, 0x00, 0x00, 0x00, // MOVL $17, DI: SIGCHLD
		0x48, 0x89, 0xe6, // MOVQ SP, SI: &act
		0x31, 0xd2, // XORL DX, DX: no old action
		0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // MOVL $8, R10: sizeof(sigset_t)
		0xb8, 0x0d, 0x00, 0x00, 0x00, // MOVL $13, AX: rt_sigaction
		0x0f, 0x05, // SYSCALL
		0xb8, 0x22, 0x00, 0x00, 0x00, // loop: MOVL $34, AX: pause
		0x0f, 0x05, // SYSCALL
		0xeb, 0xf7, // JMP loop
	}},
	"arm64": {elf.EM_AARCH64, le32(
		0xd10083ff, // SUB $32, RSP: room for struct sigaction
		0xb24003e1, // MOVD $1, R1
		0xf90003e1, // MOVD R1, 0(RSP): sa_handler = SIG_IGN
		0xf90007ff, // MOVD ZR, 8(RSP): sa_flags = 0
		0xf9000bff, // MOVD ZR, 16(RSP): sa_restorer = 0
		0xf9000fff, // MOVD ZR, 24(RSP): sa_mask = 0
		0xd2800220, // MOVD $17, R0: SIGCHLD
		0x910003e1, // MOVD RSP, R1: &act
		0xaa1f03e2, // MOVD ZR, R2: no old action
		0xb27d03e3, // MOVD $8, R3: sizeof(sigset_t)
		0xd28010c8, // MOVD $134, R8: rt_sigaction
		0xd4000001, // SVC
		0xaa1f03e0, // loop: MOVD ZR, R0: ppoll(NULL, 0, NULL, NULL, 0), which waits forever
		0xaa1f03e1, // MOVD ZR, R1
		0xaa1f03e2, // MOVD ZR, R2
		0xaa1f03e3, // MOVD ZR, R3
		0xaa1f03e4, // MOVD ZR, R4
		0xd2800928, // MOVD $73, R8: ppoll (arm64 has no pause)
		0xd4000001, // SVC
		0x17fffff9, // B loop
	)},
}

func le32(words ...uint32) []byte {
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

// pauseLoadAddr is where the executable is mapped: the usual base of a
// static executable, above the kernel's mmap_min_addr.
const pauseLoadAddr = 0x400000

// pauseBinary is the pause program as a static ELF executable for goarch:
// an ELF header, one loadable segment, the code.
func pauseBinary(goarch string) ([]byte, error) {
	pc, ok := pauseCode[goarch]
	if !ok {
		return nil, fmt.Errorf("shareProcessNamespace is not supported on %s (amd64 and arm64 are)", goarch)
	}
	const ehsize, phsize = 64, 56
	size := uint64(ehsize + phsize + len(pc.code))
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(pc.machine), Version: uint32(elf.EV_CURRENT),
		Entry: pauseLoadAddr + ehsize + phsize, Phoff: ehsize,
		Ehsize: ehsize, Phentsize: phsize, Phnum: 1,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	prog := elf.Prog64{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
		Vaddr: pauseLoadAddr, Paddr: pauseLoadAddr, Filesz: size, Memsz: size, Align: 0x1000,
	}
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, hdr); err != nil {
		return nil, err
	}
	if err := binary.Write(&b, binary.LittleEndian, prog); err != nil {
		return nil, err
	}
	b.Write(pc.code)
	return b.Bytes(), nil
}
