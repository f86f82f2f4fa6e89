// SPDX-License-Identifier: GPL-2.0

//! A region: the state behind one open file of `/dev/ashmem`.
//!
//! All of a region's state sits under one mutex, so a check and the change it guards cannot be
//! separated: `ASHMEM_SET_SIZE` racing `mmap` (CVE-2017-13216) sees either the size before the
//! backing file exists or `EINVAL` after. User memory is never touched with the lock held: mmap
//! takes the lock under the mmap lock, so a page fault under it would invert that order.
//!
//! Nothing allocates with the lock held either: the purge walk (reclaim) try-locks it, and an
//! allocation under it could wait for that reclaim. Tree nodes and LRU entries are allocated
//! without the lock and kept in the region between operations, and the backing file is created
//! unlocked and installed after a re-check.
//!
//! Every allocation is charged to the memory cgroup of the task whose call makes it (see
//! `memcg`): the region to its creator, the name to the task that sets it, the backing file to
//! the task whose `mmap` creates it, tree nodes and LRU entries to the task that pins or unpins.
//! So a purgeable range is listed under the cgroup of the task whose `ASHMEM_UNPIN` made it, and
//! that cgroup's reclaim purges it. The region holds no reference to any cgroup.
//!
//! The backing file's own lock (the inode's) is never waited for with the region's lock held:
//! `lseek` takes a reference to the backing file under the lock and seeks after dropping it, as
//! `read` does, so a long hole punch on the file (`madvise(MADV_REMOVE)`) stalls neither `mmap`
//! (which takes the region's lock under the mmap lock) nor any ioctl of the region.
//!
//! Owns: a region's state and its lock; the operations on it (the ioctls, mmap, read, seek,
//! fdinfo, release); the purge of one of its ranges, which the LRU walk asks for through
//! [`RangeOwner`]; the [`registry`] of live regions, and what the diagnostics show of one
//! ([`RegionSummary`]).
//!
//! Needs: `pin` for its unpinned ranges; `lru` for their entries and the walk's type-state;
//! `shmem` for the backing file; `uapi` for the ABI; `sched` to yield. Neither `lru` nor `diag`
//! names `Region`: the LRU knows it as a [`RangeOwner`], the diagnostics by its
//! [`RegionSummary`].

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use kernel::{
    fmt,
    fs::File,
    list::{ListArc, ListLinks},
    mm::virt::VmaNew,
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::{aref::ARef, Arc, ArcBorrow, Mutex},
};

pub(crate) mod registry;

use crate::{
    lru::{LruEntry, RangeOwner, Verdict, Victim},
    pin::{Need, NodePool, PinRanges},
    shmem::{ShmemFile, MAX_FILE_SIZE},
    uapi::{self, AshmemPin},
};

/// The mutable part of a region, guarded by [`Region::state`].
struct RegionState {
    /// The size set with `ASHMEM_SET_SIZE`, stored unrounded.
    size: usize,
    /// The `PROT_*` bits later mappings may use; only ever narrows.
    prot_mask: usize,
    /// The name set with `ASHMEM_SET_NAME`, without prefix or NUL; empty when unset.
    name: KVec<u8>,
    /// The shmem file holding the pages, created by the first `mmap`. From then on the name and
    /// the size are fixed.
    backing: Option<ShmemFile>,
    /// The unpinned pages; each purgeable range has its entry on the purge LRU.
    pins: PinRanges<LruEntry>,
    /// Tree nodes and LRU entries for `pins`, kept between operations: a steady
    /// `ASHMEM_UNPIN`/`ASHMEM_PIN` cycle reuses what the last one freed and allocates nothing.
    /// Entries charged to another cgroup than the caller's are not reused.
    spares: NodePool<LruEntry>,
}

impl RegionState {
    /// The name user space sees: the one set, or `dev/ashmem` when none (or an empty one) was.
    fn visible_name(&self) -> &[u8] {
        if self.name.is_empty() {
            uapi::ASHMEM_NAME_DEFAULT
        } else {
            &self.name
        }
    }

    /// Pages pinned, unpinned (holding data) and purged, of the page-aligned size. Any size may
    /// be set before mmap, up to `usize::MAX`: the page count is rounded up without overflowing.
    fn page_counts(&self) -> (usize, usize, usize) {
        let pages = self.size.div_ceil(PAGE_SIZE);
        let (unpinned, purged) = (self.pins.unpinned_pages(), self.pins.purged_pages());
        (
            pages.saturating_sub(unpinned.saturating_add(purged)),
            unpinned,
            purged,
        )
    }

    /// Checks an `ashmem_pin` argument, in the documented order, and returns its pages.
    fn pin_pages(&self, pin: AshmemPin) -> Result<(usize, usize)> {
        if self.backing.is_none() {
            return Err(EINVAL);
        }
        let page = PAGE_SIZE as u64;
        let aligned = page_align(self.size) as u64;
        let offset = u64::from(pin.offset);
        // A length of 0 means "to the end of the region".
        let len = match pin.len {
            0 => aligned.saturating_sub(offset),
            len => u64::from(len),
        };
        if offset % page != 0 || len % page != 0 {
            return Err(EINVAL);
        }
        let end = offset + len;
        if end > u64::from(u32::MAX) || end > aligned {
            return Err(EINVAL);
        }
        Ok(((offset / page) as usize, (end / page) as usize))
    }
}

/// One ashmem region.
///
/// # Invariants
///
/// A region lives in an `Arc` ([`Region::new`] is the only way to make one), and
/// [`Region::release`] runs before the reference its file holds is dropped.
#[pin_data]
pub(crate) struct Region {
    #[pin]
    state: Mutex<RegionState>,
    /// The region's id, in fdinfo and the diagnostics: set once, by the registry when it lists
    /// the region (before [`Region::new`] returns it), so ids follow the registry's order.
    id: AtomicU64,
    /// Its place in the [`registry`], the only list a region is ever on.
    #[pin]
    registry_links: ListLinks,
    /// The task that opened the device.
    creator: Creator,
}

/// The task that created a region, as the diagnostics show it.
#[derive(Clone, Copy)]
pub(crate) struct Creator {
    /// Its thread group id, in the initial pid namespace.
    pub(crate) tgid: i32,
    comm: [u8; 16],
}

impl Creator {
    fn current() -> Self {
        let task = kernel::current!();
        let mut comm = [0u8; 16];
        // SAFETY: `comm` of the current task is a valid 16-byte array. Another thread of the
        // task may rename it meanwhile, as with `get_task_comm()`; each byte is read once.
        unsafe {
            let src = &raw const (*task.as_ptr()).comm;
            for (i, byte) in comm.iter_mut().enumerate() {
                *byte = core::ptr::read_volatile(src.cast::<u8>().add(i));
            }
        }
        Self {
            tgid: task.group_leader().pid(),
            comm,
        }
    }

    /// The command name, without its NUL.
    pub(crate) fn comm(&self) -> &[u8] {
        let len = self
            .comm
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.comm.len());
        &self.comm[..len]
    }
}

/// What the diagnostics show of a region: a copy, taken under its lock.
pub(crate) struct RegionSummary {
    pub(crate) id: u64,
    pub(crate) creator: Creator,
    pub(crate) size: usize,
    pub(crate) name: RegionName,
    pub(crate) pinned: usize,
    pub(crate) unpinned: usize,
    pub(crate) purged: usize,
    /// Pages of the backing file in memory.
    pub(crate) resident: usize,
}

/// A region's name, as user space sees it: a copy that needs no lock.
pub(crate) struct RegionName {
    buf: [u8; uapi::ASHMEM_NAME_LEN],
    len: usize,
}

impl RegionName {
    fn of(state: &RegionState) -> Self {
        let mut out = RegionName {
            buf: [0; uapi::ASHMEM_NAME_LEN],
            len: 0,
        };
        let name = state.visible_name();
        // SET_NAME keeps at most `ASHMEM_NAME_LEN - 1` bytes, so the NUL always fits.
        out.len = name.len().min(uapi::ASHMEM_NAME_LEN - 1);
        out.buf[..out.len].copy_from_slice(&name[..out.len]);
        out
    }

    /// The name, without NUL.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The name and its NUL terminator.
    pub(crate) fn with_nul(&self) -> &[u8] {
        &self.buf[..=self.len]
    }
}

/// Formats a name for a line-oriented file: control characters, backslash and space-like bytes
/// are written as octal escapes, so a name cannot forge another fdinfo line.
pub(crate) struct Escaped<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            if b.is_ascii_graphic() && b != b'\\' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\{:03o}", b)?;
            }
        }
        Ok(())
    }
}

impl Region {
    /// Creates a new, empty region: size 0, no name, full prot mask, no backing file; and adds
    /// it to the registry.
    pub(crate) fn new() -> Result<Arc<Self>> {
        // INVARIANT: the region is made in an `Arc`. Made as its `ListArc`, which goes to the
        // registry: registering then needs no allocation.
        let listed = ListArc::pin_init(
            try_pin_init!(Self {
                state <- new_mutex!(RegionState {
                    size: 0,
                    prot_mask: uapi::PROT_MASK_ALL,
                    name: KVec::new(),
                    backing: None,
                    pins: PinRanges::new(),
                    spares: NodePool::new(),
                }),
                id: AtomicU64::new(0),
                registry_links <- ListLinks::new(),
                creator: Creator::current(),
            }? Error),
            GFP_KERNEL_ACCOUNT,
        )?;
        let region = listed.clone_arc();
        registry::register(listed);
        Ok(region)
    }

    /// Sets the name; refused with `EINVAL` once the backing file exists.
    pub(crate) fn set_name(&self, name: &CStr) -> Result {
        // Allocate before taking the lock, charged to the caller's cgroup.
        let mut copy = KVec::new();
        copy.extend_from_slice(name.to_bytes(), GFP_KERNEL_ACCOUNT)?;
        let mut state = self.state.lock();
        if state.backing.is_some() {
            return Err(EINVAL);
        }
        state.name = copy;
        Ok(())
    }

    /// The name `ASHMEM_GET_NAME` reports: the one set, or `dev/ashmem` when none (or an empty
    /// one) was set.
    pub(crate) fn name(&self) -> RegionName {
        RegionName::of(&self.state.lock())
    }

    /// The region's id. Set by the registry under its lock before [`Region::new`] returned the
    /// region, so every caller (holding a reference from `new`, or one the registry copied
    /// under its lock) sees it set.
    fn id(&self) -> u64 {
        self.id.load(Relaxed)
    }

    /// What the diagnostics show of the region now (read through the [`registry`]).
    fn summary(&self) -> RegionSummary {
        let state = self.state.lock();
        let (pinned, unpinned, purged) = state.page_counts();
        RegionSummary {
            id: self.id(),
            creator: self.creator,
            size: state.size,
            name: RegionName::of(&state),
            pinned,
            unpinned,
            purged,
            resident: state.backing.as_ref().map_or(0, ShmemFile::resident_pages),
        }
    }

    /// Sets the size; refused with `EINVAL` once the backing file exists.
    pub(crate) fn set_size(&self, size: usize) -> Result {
        let mut state = self.state.lock();
        if state.backing.is_some() {
            return Err(EINVAL);
        }
        state.size = size;
        Ok(())
    }

    /// The size set with `ASHMEM_SET_SIZE`.
    pub(crate) fn size(&self) -> usize {
        self.state.lock().size
    }

    /// Narrows the prot mask. `read_implies_exec`: the caller's personality makes `PROT_READ`
    /// imply `PROT_EXEC`, which is applied before the subset check so it cannot widen the mask.
    pub(crate) fn set_prot_mask(&self, mut mask: usize, read_implies_exec: bool) -> Result {
        if read_implies_exec && mask & uapi::PROT_READ != 0 {
            mask |= uapi::PROT_EXEC;
        }
        let mut state = self.state.lock();
        if mask & !state.prot_mask != 0 {
            return Err(EINVAL);
        }
        state.prot_mask = mask;
        Ok(())
    }

    /// The current prot mask.
    pub(crate) fn prot_mask(&self) -> usize {
        self.state.lock().prot_mask
    }

    /// The inode number of the backing file; `EINVAL` before the first mmap.
    pub(crate) fn file_id(&self) -> Result<u64> {
        self.state
            .lock()
            .backing
            .as_ref()
            .map(ShmemFile::ino)
            .ok_or(EINVAL)
    }

    /// `ASHMEM_PIN`: pins the range; says whether any of its pages had been purged.
    pub(crate) fn pin(&self, pin: AshmemPin) -> Result<isize> {
        let purged =
            self.with_spares(pin, |pins, start, end, spares| pins.pin(start, end, spares))?;
        Ok(if purged {
            uapi::ASHMEM_WAS_PURGED
        } else {
            uapi::ASHMEM_NOT_PURGED
        })
    }

    /// `ASHMEM_UNPIN`: makes the range purgeable, and the most recently unpinned on the LRU.
    pub(crate) fn unpin(&self, pin: AshmemPin) -> Result<isize> {
        self.with_spares(pin, |pins, start, end, spares| {
            pins.unpin(start, end, spares)
        })?;
        Ok(0)
    }

    /// Runs `op` on the pages of `pin` with the region's spare nodes and entries. When it needs
    /// more, takes the spares out, tops them up without the lock (charged to the caller), and
    /// runs it again. Spare entries charged to another cgroup are dropped first: a range the
    /// caller makes is listed under the caller's cgroup.
    fn with_spares<T>(
        &self,
        pin: AshmemPin,
        mut op: impl FnMut(
            &mut PinRanges<LruEntry>,
            usize,
            usize,
            &mut NodePool<LruEntry>,
        ) -> core::result::Result<T, Need>,
    ) -> Result<T> {
        let mut state = self.state.lock();
        loop {
            let (start, end) = state.pin_pages(pin)?;
            let RegionState { pins, spares, .. } = &mut *state;
            spares.keep_reusable();
            let need = match op(pins, start, end, spares) {
                Ok(done) => {
                    spares.trim();
                    return Ok(done);
                }
                Err(need) => need,
            };
            let mut pool = core::mem::replace(spares, NodePool::new());
            drop(state);
            pool.fill(need, || LruEntry::new(self))?;
            state = self.state.lock();
            // Another operation may have put its own spares back meanwhile: they are freed
            // (freeing is allowed under the lock).
            state.spares = pool;
        }
    }

    /// The file is being released: takes the region's ranges off the purge LRU, so no walk
    /// reaches the region once the file's reference is gone. A region may have a million
    /// ranges: they go in chunks, the lock dropped and the CPU offered in between.
    pub(crate) fn release(&self) {
        registry::unregister(self);
        let mut state = self.state.lock();
        state.spares = NodePool::new();
        while state.pins.remove_some(RELEASE_CHUNK) {
            drop(state);
            crate::sched::yield_now();
            state = self.state.lock();
        }
    }

    /// `ASHMEM_GET_PIN_STATUS`: whether any page of the range is unpinned.
    pub(crate) fn pin_status(&self, pin: AshmemPin) -> Result<isize> {
        let state = self.state.lock();
        let (start, end) = state.pin_pages(pin)?;
        Ok(if state.pins.any_unpinned(start, end) {
            uapi::ASHMEM_IS_UNPINNED
        } else {
            uapi::ASHMEM_IS_PINNED
        })
    }

    /// Sets up a new mapping of the region, creating the backing file on the first one.
    pub(crate) fn mmap(&self, vma: &VmaNew) -> Result {
        let file = loop {
            let (name, size) = {
                let state = self.state.lock();
                Self::check_mmap(&state, vma)?;
                if let Some(backing) = &state.backing {
                    break backing.clone();
                }
                (BackingName::new(&state.name), state.size)
            };
            // Created without the lock, charged to the caller's cgroup, then installed if
            // nothing changed meanwhile.
            let created = ShmemFile::new(name.as_cstr()?, size)?;
            let mut state = self.state.lock();
            if state.backing.is_none() && state.size == size && name.is_of(&state.name) {
                state.backing = Some(created);
            }
            // Checked again, with the file that is now installed.
        };
        if vma.flags() & kernel::bindings::VM_SHARED != 0 {
            file.mmap_shared(vma)
        } else {
            // A private mapping is anonymous: zero-filled, copy-on-write, not shared.
            file.mmap_private(vma);
            Ok(())
        }
    }

    /// Checks that `vma` may map the region, and keeps `mprotect()` from adding what the prot
    /// mask lacks.
    fn check_mmap(state: &RegionState, vma: &VmaNew) -> Result {
        if state.size == 0 || state.size > MAX_FILE_SIZE {
            return Err(EINVAL);
        }
        let len = vma.end() - vma.start();
        if len > page_align(state.size) {
            return Err(EINVAL);
        }
        let mask = state.prot_mask;
        let wanted = [
            (vma.readable(), uapi::PROT_READ),
            (vma.writable(), uapi::PROT_WRITE),
            (vma.executable(), uapi::PROT_EXEC),
        ];
        if wanted.iter().any(|&(on, bit)| on && mask & bit == 0) {
            return Err(EPERM);
        }
        // Later mprotect() calls may not add what the mask lacks.
        if mask & uapi::PROT_READ == 0 {
            vma.try_clear_mayread()?;
        }
        if mask & uapi::PROT_WRITE == 0 {
            vma.try_clear_maywrite()?;
        }
        if mask & uapi::PROT_EXEC == 0 {
            vma.try_clear_mayexec()?;
        }
        Ok(())
    }

    /// The backing file, for reading (the copy to user memory may fault) and seeking (which may
    /// wait for the backing inode's lock) without the region's lock held.
    ///
    /// `Ok(None)` when the size is 0; `EBADF` when the region was never mapped.
    fn backing_file(&self) -> Result<Option<ARef<File>>> {
        let state = self.state.lock();
        match &state.backing {
            _ if state.size == 0 => Ok(None),
            None => Err(EBADF),
            Some(backing) => Ok(Some(backing.file())),
        }
    }

    /// `read(2)`: reads the backing file at `*pos`.
    pub(crate) fn read(
        &self,
        iov: &mut kernel::iov::IovIterDest<'_>,
        pos: &mut i64,
    ) -> Result<usize> {
        match self.backing_file()? {
            None => Ok(0),
            Some(file) => crate::shmem::read(&file, iov, pos),
        }
    }

    /// `lseek(2)` from the position `pos`: seeks in the backing file, `SEEK_DATA` and
    /// `SEEK_HOLE` included, and returns the new position.
    ///
    /// `SEEK_DATA` and `SEEK_HOLE` take the backing inode's lock, which a hole punch holds for
    /// as long as it runs: the seek happens after the region's lock is dropped, with a reference
    /// to the backing file taken under it.
    pub(crate) fn llseek(&self, pos: i64, offset: i64, whence: i32) -> Result<i64> {
        // The position belongs to the region's own file, not the backing one: make a relative
        // seek absolute. The backing file's own position is only scratch space for the seek
        // (nothing reads it), so two seeks at once need no lock between them.
        let (offset, whence) = if whence == kernel::bindings::SEEK_CUR as i32 {
            (
                pos.checked_add(offset).ok_or(EINVAL)?,
                kernel::bindings::SEEK_SET as i32,
            )
        } else {
            (offset, whence)
        };
        match self.backing_file()? {
            None => Err(EINVAL),
            Some(file) => crate::shmem::llseek(&file, offset, whence),
        }
    }

    /// Writes the fdinfo lines of the region.
    /// One lock for all lines, so they describe the same moment.
    pub(crate) fn show_fdinfo(&self, m: &SeqFile) {
        // The region's id tells two fds of one unmapped region apart from two regions.
        seq_print!(m, "region:\t{}\n", self.id());
        let state = self.state.lock();
        if let Some(backing) = &state.backing {
            seq_print!(m, "inode:\t{}\n", backing.ino());
        }
        seq_print!(m, "name:\t{}\n", Escaped(state.visible_name()));
        seq_print!(m, "size:\t{}\n", state.size);
        let (pinned, unpinned, purged) = state.page_counts();
        seq_print!(m, "pinned:\t{}\n", pinned);
        seq_print!(m, "unpinned:\t{}\n", unpinned);
        seq_print!(m, "purged:\t{}\n", purged);
    }
}

// SAFETY: A region lives in an `Arc` (`Region::new` is the only way to make one), and
// `Region::release`, which takes all its ranges, with their entries, off the list, runs before
// the reference its file holds is dropped (the type invariants); the only other references the
// walk takes are those `try_purge` returns. `Region` is the only `RangeOwner`.
unsafe impl RangeOwner for Region {
    /// Purges the range of `victim`, an entry of this region the purge walk found. Leaves it
    /// when the region or its backing inode is busy. A purge returns a reference that keeps the
    /// region alive past its unlock, for the walk to drop once its borrow has ended.
    fn try_purge(self: ArcBorrow<'_, Self>, victim: Victim<'_, Self>) -> Verdict<Self> {
        // The walk holds the list lock, which nests inside region locks: only try.
        let Some(mut guard) = self.state.try_lock() else {
            return victim.busy();
        };
        let state = &mut *guard;
        // SAFETY: The region's lock is held.
        let start = unsafe { victim.start() };
        let end = match state.pins.purgeable(start) {
            Some((end, entry)) if entry.is(&victim) => end,
            _ => return victim.busy(),
        };
        let Some(backing) = &state.backing else {
            return victim.busy();
        };
        // A write to the backing file holds its inode lock while it allocates.
        let Some(inode) = backing.try_lock_inode() else {
            return victim.busy();
        };
        // Once the lock is released below, the file may be released and drop its reference:
        // keep the region alive until then.
        let keep: Arc<Region> = self.into();
        // SAFETY: The region's lock is held until the range is marked purged.
        let isolated = unsafe { victim.isolate() };
        inode.punch(start * PAGE_SIZE, end * PAGE_SIZE);
        drop(inode);
        let pages = state.pins.mark_purged(start).unwrap_or(0);
        drop(guard);
        isolated.purged(pages, keep)
    }
}

/// Ranges [`Region::release`] removes between two offers to yield the CPU.
const RELEASE_CHUNK: usize = 1024;

/// Rounds `size` up to whole pages. Callers have checked `size <= MAX_FILE_SIZE`, where this
/// is exact; a larger size (which any region may hold before mmap) saturates rather than
/// overflowing.
fn page_align(size: usize) -> usize {
    size.checked_next_multiple_of(PAGE_SIZE)
        .unwrap_or(usize::MAX & !(PAGE_SIZE - 1))
}

/// The backing file's name: `dev/ashmem/<name>`, or `dev/ashmem` for an unnamed region; built
/// on the stack so that it needs no allocation under the region's lock.
struct BackingName {
    buf: [u8; uapi::ASHMEM_NAME_PREFIX.len() + uapi::ASHMEM_NAME_LEN],
    /// Bytes of the region's name, after the prefix.
    name_len: usize,
    /// Bytes before the NUL.
    len: usize,
}

impl BackingName {
    fn new(name: &[u8]) -> Self {
        let mut out = Self {
            buf: [0; uapi::ASHMEM_NAME_PREFIX.len() + uapi::ASHMEM_NAME_LEN],
            name_len: 0,
            len: 0,
        };
        // SET_NAME keeps at most `ASHMEM_NAME_LEN - 1` bytes, so the NUL always fits.
        let name = &name[..name.len().min(uapi::ASHMEM_NAME_LEN - 1)];
        let (prefix, name): (&[u8], &[u8]) = if name.is_empty() {
            (uapi::ASHMEM_NAME_DEFAULT, &[])
        } else {
            (uapi::ASHMEM_NAME_PREFIX, name)
        };
        out.buf[..prefix.len()].copy_from_slice(prefix);
        out.buf[prefix.len()..prefix.len() + name.len()].copy_from_slice(name);
        out.name_len = name.len();
        out.len = prefix.len() + name.len();
        out
    }

    fn as_cstr(&self) -> Result<&CStr> {
        CStr::from_bytes_with_nul(&self.buf[..=self.len]).map_err(|_| EINVAL)
    }

    /// Whether this was built from `name`.
    fn is_of(&self, name: &[u8]) -> bool {
        let name = &name[..name.len().min(uapi::ASHMEM_NAME_LEN - 1)];
        name == &self.buf[self.len - self.name_len..self.len]
    }
}
