//! `dlsym(RTLD_NEXT, name)` for many names in one walk of the loaded
//! objects: the load-time fast path of [`crate::real`].
//!
//! `dlsym` costs about 900 instructions a call (locks, error catching, a
//! full scope search); the library needs 18 symbols in every process it is
//! loaded into. Here one `dl_iterate_phdr` walk visits the objects after
//! this library in the global search order and looks every name up in each
//! one's GNU hash table, as glibc's `do_lookup_x` does for `dlsym`: the
//! first object that defines the name wins, and of several versions the
//! default one (`posix_spawn@@GLIBC_2.15`, not the hidden
//! `posix_spawn@GLIBC_2.2.5`).
//!
//! It answers only where that is sure to be what `dlsym(RTLD_NEXT)` would
//! say; everything else is left to `dlsym`:
//! - the walk must reach glibc's libc (the object that holds `dlsym` and
//!   defines `gnu_get_libc_version`) *after* this library: then this library
//!   was loaded at start-up (preloaded, or needed by the program), where the
//!   load order of the objects between us and libc is their search order.
//!   Loaded by `dlopen`, or under musl, every name goes to `dlsym`;
//! - an object without a GNU hash table ends the walk;
//! - a definition that `dlsym` would treat specially (an IFUNC, TLS, a
//!   unique or absolute symbol, hidden visibility, several default
//!   versions) makes that name `dlsym`'s;
//! - `LD_AUDIT` (whose `la_symbind` may change an address) and
//!   `LD_DYNAMIC_WEAK` (which changes how weak definitions rank) leave
//!   everything to `dlsym`; the caller checks those.

use core::ffi::{CStr, c_char, c_int, c_void};

/// One name's answer: the address (0: ask `dlsym`) and, for the debug
/// check, the object that defines it.
#[derive(Clone, Copy)]
pub struct Hit {
    pub addr: usize,
    pub object: *const c_char,
    /// A definition was seen that only `dlsym` can judge: later objects
    /// must not answer this name.
    settled: bool,
}

impl Hit {
    pub const NONE: Hit = Hit {
        addr: 0,
        object: core::ptr::null(),
        settled: false,
    };
}

/// The GNU hash of a symbol name (the ELF `DT_GNU_HASH` function).
pub const fn gnu_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 5381;
    let mut rest = name;
    while let [c, tail @ ..] = rest {
        if *c == 0 {
            break;
        }
        h = h.wrapping_mul(33).wrapping_add(*c as u32);
        rest = tail;
    }
    h
}

/// A name to look up, NUL-terminated, with its hash.
#[derive(Clone, Copy)]
pub struct Name {
    pub text: &'static CStr,
    pub hash: u32,
}

/// Looks every name up in the objects after the one containing `own`, up to
/// glibc's libc (the object containing `libc_addr`). Fills `hits` (same
/// order as `names`); a name left at address 0 is for `dlsym`. Returns
/// false when the walk could not be used at all (every hit is then empty).
pub fn resolve(names: &[Name], hits: &mut [Hit], own: usize, libc_addr: usize) -> bool {
    let mut walk = Walk {
        names,
        hits,
        own,
        libc_addr,
        phase: Phase::BeforeUs,
    };
    // SAFETY: the callback only reads the headers and tables of loaded
    // objects, which stay mapped during the walk; `walk` outlives the call.
    unsafe {
        libc::dl_iterate_phdr(Some(visit), (&mut walk as *mut Walk<'_>).cast::<c_void>());
    }
    let usable = walk.phase == Phase::ReachedLibc;
    if !usable {
        walk.hits.iter_mut().for_each(|h| *h = Hit::NONE);
    }
    usable
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    BeforeUs,
    AfterUs,
    ReachedLibc,
    Failed,
}

struct Walk<'a> {
    names: &'a [Name],
    hits: &'a mut [Hit],
    own: usize,
    libc_addr: usize,
    phase: Phase,
}

unsafe extern "C" fn visit(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: `data` is the `Walk` passed to dl_iterate_phdr above, and
    // `info` the loader's description of one loaded object.
    let (walk, info) = unsafe { (&mut *data.cast::<Walk<'_>>(), &*info) };
    let object = Object::new(info);
    match walk.phase {
        Phase::BeforeUs => {
            if object.contains(walk.libc_addr) {
                walk.phase = Phase::Failed; // libc before us: not a start-up load
                return 1;
            }
            if object.contains(walk.own) {
                walk.phase = Phase::AfterUs;
            }
            0
        }
        Phase::AfterUs => {
            let is_libc = object.contains(walk.libc_addr);
            let Some(table) = object.symbols() else {
                if object.has_dynamic() {
                    walk.phase = Phase::Failed; // no GNU hash: cannot search it
                    return 1;
                }
                return 0; // nothing exported here
            };
            if is_libc && !matches!(table.lookup(&GLIBC_MARK), Lookup::Found(_)) {
                walk.phase = Phase::Failed; // not glibc (musl answers libc.so.6)
                return 1;
            }
            for (name, hit) in walk.names.iter().zip(walk.hits.iter_mut()) {
                if hit.addr != 0 || hit.settled {
                    continue;
                }
                match table.lookup(name) {
                    Lookup::Found(addr) => {
                        *hit = Hit {
                            addr,
                            object: info.dlpi_name,
                            settled: true,
                        }
                    }
                    Lookup::Unsure => hit.settled = true,
                    Lookup::Absent => {}
                }
            }
            if is_libc {
                walk.phase = Phase::ReachedLibc;
                return 1;
            }
            0
        }
        Phase::ReachedLibc | Phase::Failed => 1,
    }
}

/// Defined by glibc's libc only.
const GLIBC_MARK: Name = Name {
    text: c"gnu_get_libc_version",
    hash: gnu_hash(b"gnu_get_libc_version"),
};

/// One loaded object as `dl_iterate_phdr` describes it.
struct Object<'a> {
    base: usize,
    phdrs: &'a [libc::Elf64_Phdr],
}

impl<'a> Object<'a> {
    fn new(info: &'a libc::dl_phdr_info) -> Self {
        let phdrs = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            // SAFETY: the loader describes `dlpi_phnum` program headers at
            // `dlpi_phdr`, mapped for as long as the object is loaded.
            unsafe { core::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
        };
        Object {
            base: info.dlpi_addr as usize,
            phdrs,
        }
    }

    fn loads(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.phdrs
            .iter()
            .filter(|p| p.p_type == libc::PT_LOAD)
            .map(|p| {
                let lo = self.base.wrapping_add(p.p_vaddr as usize);
                (lo, lo.wrapping_add(p.p_memsz as usize))
            })
    }

    fn contains(&self, addr: usize) -> bool {
        self.loads().any(|(lo, hi)| (lo..hi).contains(&addr))
    }

    fn has_dynamic(&self) -> bool {
        self.phdrs.iter().any(|p| p.p_type == libc::PT_DYNAMIC)
    }

    /// A pointer from the dynamic section: glibc adds the load address to
    /// most of them in place, the kernel's vDSO and musl do not. Whichever
    /// form it is, it must land inside the object.
    fn pointer(&self, value: u64) -> Option<usize> {
        let value = value as usize;
        if self.contains(value) {
            return Some(value);
        }
        let moved = self.base.wrapping_add(value);
        self.contains(moved).then_some(moved)
    }

    fn symbols(&self) -> Option<SymbolTable> {
        let dynamic = self.phdrs.iter().find(|p| p.p_type == libc::PT_DYNAMIC)?;
        let mut entry = self.base.wrapping_add(dynamic.p_vaddr as usize) as *const Dyn;
        let (mut gnu_hash, mut symtab, mut strtab, mut versym) = (None, None, None, None);
        loop {
            // SAFETY: PT_DYNAMIC points at the mapped dynamic section, an
            // array of entries that ends with DT_NULL.
            let Dyn { tag, value } = unsafe { entry.read() };
            match tag {
                DT_NULL => break,
                DT_GNU_HASH => gnu_hash = self.pointer(value),
                DT_SYMTAB => symtab = self.pointer(value),
                DT_STRTAB => strtab = self.pointer(value),
                DT_VERSYM => versym = self.pointer(value),
                _ => {}
            }
            // SAFETY: not past DT_NULL, which ends the array.
            entry = unsafe { entry.add(1) };
        }
        Some(SymbolTable {
            base: self.base,
            gnu_hash: gnu_hash? as *const u32,
            symtab: symtab? as *const libc::Elf64_Sym,
            strtab: strtab? as *const c_char,
            versym: versym.map(|v| v as *const u16),
        })
    }
}

#[repr(C)]
struct Dyn {
    tag: i64,
    value: u64,
}

const DT_NULL: i64 = 0;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_GNU_HASH: i64 = 0x6fff_fef5;
const DT_VERSYM: i64 = 0x6fff_fff0;

const STT_NOTYPE: u8 = 0;
const STT_OBJECT: u8 = 1;
const STT_FUNC: u8 = 2;
const STT_COMMON: u8 = 5;
const STT_TLS: u8 = 6;
const STT_GNU_IFUNC: u8 = 10;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;
const STV_DEFAULT: u8 = 0;
const STV_PROTECTED: u8 = 3;
const SHN_UNDEF: u16 = 0;
const SHN_ABS: u16 = 0xfff1;
const VERSYM_HIDDEN: u16 = 0x8000;

enum Lookup {
    Found(usize),
    Absent,
    /// A definition `dlsym` treats specially: leave the name to it.
    Unsure,
}

struct SymbolTable {
    base: usize,
    gnu_hash: *const u32,
    symtab: *const libc::Elf64_Sym,
    strtab: *const c_char,
    versym: Option<*const u16>,
}

impl SymbolTable {
    /// glibc's `do_lookup_x` for a `dlsym` without a version: the first
    /// unversioned (or base-version) definition wins at once; otherwise
    /// the one non-hidden versioned definition, if there is exactly one.
    fn lookup(&self, name: &Name) -> Lookup {
        // SAFETY: every read below stays inside this object's GNU hash
        // table, symbol table, version table and string table, whose
        // layout the ELF gABI and the GNU hash format fix, and which the
        // loader has mapped for as long as the object is loaded.
        unsafe {
            let header = self.gnu_hash;
            let nbuckets = *header;
            let symoffset = *header.add(1);
            let bloom_size = *header.add(2);
            let bloom_shift = *header.add(3);
            if nbuckets == 0 || bloom_size == 0 {
                return Lookup::Absent;
            }
            let bloom = header.add(4).cast::<u64>();
            let h = name.hash;
            let word = bloom.add(((h / 64) % bloom_size) as usize).read_unaligned();
            let mask = (1u64 << (h % 64)) | (1u64 << ((h >> bloom_shift) % 64));
            if word & mask != mask {
                return Lookup::Absent;
            }
            let buckets = bloom.add(bloom_size as usize).cast::<u32>();
            let chain = buckets.add(nbuckets as usize);
            let mut index = *buckets.add((h % nbuckets) as usize);
            if index == 0 || index < symoffset {
                return Lookup::Absent;
            }
            let mut versioned = None;
            let mut versions = 0u32;
            loop {
                let link = *chain.add((index - symoffset) as usize);
                if (link ^ h) >> 1 == 0 {
                    let sym = &*self.symtab.add(index as usize);
                    if same_name(self.strtab.add(sym.st_name as usize), name.text) {
                        match self.judge(sym, index) {
                            Judged::Take(found) => return found,
                            Judged::Versioned => {
                                versions += 1;
                                versioned = Some(sym);
                            }
                            Judged::Skip => {}
                        }
                    }
                }
                if link & 1 != 0 {
                    break;
                }
                index += 1;
            }
            match (versions, versioned) {
                (1, Some(sym)) => self.address(sym),
                (0, _) => Lookup::Absent,
                _ => Lookup::Unsure,
            }
        }
    }

    /// glibc's `check_match` with no version asked and
    /// `DL_LOOKUP_RETURN_NEWEST`, as `dlsym` calls it.
    fn judge(&self, sym: &libc::Elf64_Sym, index: u32) -> Judged {
        let kind = sym.st_info & 0xf;
        if sym.st_value == 0 && sym.st_shndx != SHN_ABS && kind != STT_TLS {
            return Judged::Skip;
        }
        let allowed = [
            STT_NOTYPE,
            STT_OBJECT,
            STT_FUNC,
            STT_COMMON,
            STT_TLS,
            STT_GNU_IFUNC,
        ];
        if !allowed.contains(&kind) {
            return Judged::Skip;
        }
        if let Some(versym) = self.versym {
            // SAFETY: the version table has one entry per symbol.
            let version = unsafe { *versym.add(index as usize) };
            if version & 0x7fff >= 2 {
                return if version & VERSYM_HIDDEN == 0 {
                    Judged::Versioned
                } else {
                    Judged::Skip
                };
            }
        }
        Judged::Take(self.address(sym))
    }

    /// The address `dlsym` would return, or `Unsure` for what it treats
    /// specially.
    fn address(&self, sym: &libc::Elf64_Sym) -> Lookup {
        let kind = sym.st_info & 0xf;
        let bind = sym.st_info >> 4;
        let visibility = sym.st_other & 0x3;
        let plain = matches!(kind, STT_FUNC | STT_NOTYPE | STT_OBJECT)
            && matches!(bind, STB_GLOBAL | STB_WEAK)
            && matches!(visibility, STV_DEFAULT | STV_PROTECTED)
            && sym.st_shndx != SHN_UNDEF
            && sym.st_shndx != SHN_ABS;
        if !plain {
            return Lookup::Unsure;
        }
        Lookup::Found(self.base.wrapping_add(sym.st_value as usize))
    }
}

/// Whether the NUL-terminated string at `text` is `name`: compared byte by
/// byte up to `name`'s NUL, so that no longer string is measured first.
///
/// # Safety
/// `text` points at a NUL-terminated string.
unsafe fn same_name(text: *const c_char, name: &CStr) -> bool {
    let mut at = text.cast::<u8>();
    for &want in name.to_bytes_with_nul() {
        // SAFETY: every byte before a mismatch or the NUL is part of the
        // string at `text`; we stop at its NUL at the latest.
        if unsafe { *at } != want {
            return false;
        }
        // SAFETY: as above; the byte just read was not its NUL unless
        // `want` was, which is the last iteration.
        at = unsafe { at.add(1) };
    }
    true
}

enum Judged {
    Take(Lookup),
    Versioned,
    Skip,
}

#[cfg(test)]
mod tests {
    use super::gnu_hash;

    #[test]
    fn gnu_hash_matches_the_reference_values() {
        assert_eq!(gnu_hash(b""), 0x0000_1505);
        assert_eq!(gnu_hash(b"printf"), 0x156b_2bb8);
        assert_eq!(gnu_hash(b"exit"), 0x7c96_7e3f);
        assert_eq!(gnu_hash(b"syscall"), 0xbac2_12a0);
    }
}
