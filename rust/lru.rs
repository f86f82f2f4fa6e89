// SPDX-License-Identifier: GPL-2.0

//! The purge LRU and the shrinker.
//!
//! Every purgeable range of every region owns an [`LruEntry`] on one `list_lru`, least recently
//! unpinned first. A shrinker, registered at module load, reports the pages of those ranges to
//! reclaim and purges the oldest when asked; `ASHMEM_PURGE_ALL_CACHES` purges them all.
//!
//! The list is memcg-aware. Entries come from a `SLAB_ACCOUNT` cache through
//! `kmem_cache_alloc_lru()` with the region's [`Memcg`] active, so each is charged to, and listed
//! under, the memory cgroup of the task that created the region, whose pages are charged there as
//! it fills them; whoever pins or unpins later. When a container's cgroup reaches `memory.max`,
//! reclaim asks the shrinker about that cgroup's list, and so purges that container's ranges.
//!
//! Locks: a region's mutex is taken before a list lock, never the other way round. The walk finds
//! an entry with the list lock held, so it only try-locks the entry's region, and the backing
//! inode, and passes over the entry when either is busy: an ioctl, or a write to the backing
//! file, may hold them while it allocates and so waits for reclaim. It then takes the entry off
//! the list and drops the list lock before freeing pages. Nothing allocates under either lock.

use core::{
    marker::PhantomData,
    mem::{align_of, size_of},
    ptr::{self, NonNull},
    sync::atomic::{AtomicBool, AtomicIsize, AtomicPtr, AtomicUsize, Ordering::Relaxed},
};

use kernel::{
    bindings,
    cpu::CpuId,
    ffi::{c_char, c_int, c_uint, c_ulong, c_void},
    prelude::*,
    sync::ArcBorrow,
    types::Opaque,
};

use crate::{pin::RangeLink, region::Region};

extern "C" {
    /// Creates the `SLAB_ACCOUNT` cache of entries (see `shmem_shim.c`).
    fn ashmem_lru_cache_create(
        name: *const c_char,
        size: c_uint,
        align: c_uint,
    ) -> *mut bindings::kmem_cache;
    /// Allocates a memcg- and NUMA-aware shrinker.
    fn ashmem_shrinker_alloc(name: *const c_char) -> *mut c_void;
    /// The number of possible NUMA nodes.
    fn ashmem_nr_node_ids() -> c_uint;
    /// The memory cgroup of the current task's mm, referenced; null without memcg.
    fn ashmem_memcg_of_current() -> *mut c_void;
    /// Drops a reference taken by `ashmem_memcg_of_current`.
    fn ashmem_memcg_put(memcg: *mut c_void);
    /// `kmem_cache_alloc_lru()` with `memcg` as the active memory cgroup.
    fn ashmem_lru_entry_alloc(
        cache: *mut c_void,
        lru: *mut c_void,
        memcg: *mut c_void,
    ) -> *mut c_void;
}

/// A memory cgroup, referenced: the one a region's LRU entries are charged to and listed under.
///
/// # Invariants
///
/// `ptr` is null (no memory cgroups) or a `struct mem_cgroup` on which this holds a reference.
pub(crate) struct Memcg {
    ptr: *mut c_void,
}

// SAFETY: The reference may be used and dropped from any task.
unsafe impl Send for Memcg {}
// SAFETY: The pointer is only passed to the kernel, which does its own synchronisation.
unsafe impl Sync for Memcg {}

impl Memcg {
    /// The memory cgroup of the current task.
    pub(crate) fn of_current() -> Self {
        // SAFETY: No requirements; the reference returned is ours.
        let ptr = unsafe { ashmem_memcg_of_current() };
        // INVARIANT: null or referenced.
        Self { ptr }
    }
}

impl Drop for Memcg {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold this reference (the call accepts null).
        unsafe { ashmem_memcg_put(self.ptr) };
    }
}

/// The list, the cache its entries come from, and the shrinker.
///
/// # Invariants
///
/// While an [`LruRegistration`] exists, `list` is initialised and `cache` and `shrinker` point
/// to a live cache and a registered shrinker. Entries exist only then.
struct Lru {
    list: Opaque<bindings::list_lru>,
    cache: AtomicPtr<bindings::kmem_cache>,
    shrinker: AtomicPtr<bindings::shrinker>,
    /// Pages of the ranges whose entries are on the list.
    pages: PageCount,
    /// Times reclaim asked the shrinker to scan.
    scans: AtomicUsize,
    /// Pages purged by the shrinker.
    shrinker_purged: AtomicUsize,
    /// Pages purged by `ASHMEM_PURGE_ALL_CACHES`.
    ioctl_purged: AtomicUsize,
}

// SAFETY: `list_lru` does its own locking; the other fields are atomics.
unsafe impl Sync for Lru {}

static LRU: Lru = Lru {
    list: Opaque::uninit(),
    cache: AtomicPtr::new(ptr::null_mut()),
    shrinker: AtomicPtr::new(ptr::null_mut()),
    pages: PageCount::new(),
    scans: AtomicUsize::new(0),
    shrinker_purged: AtomicUsize::new(0),
    ioctl_purged: AtomicUsize::new(0),
};

/// Shards of [`PageCount`]; more than the CPUs of most hosts that run Android containers.
const PAGE_COUNT_SHARDS: usize = 16;

/// One shard, alone on its cache line.
#[repr(align(64))]
struct PageCountShard(AtomicIsize);

/// The pages on the list, counted in shards picked by CPU: every UNPIN and PIN changes the
/// count, and two CPUs doing that on their own regions would otherwise fight over one cache
/// line. A reader adds the shards up; a shard alone may go negative.
struct PageCount {
    shards: [PageCountShard; PAGE_COUNT_SHARDS],
}

impl PageCount {
    const fn new() -> Self {
        Self {
            shards: [const { PageCountShard(AtomicIsize::new(0)) }; PAGE_COUNT_SHARDS],
        }
    }

    /// Changes the count by `delta` pages.
    fn add(&self, delta: isize) {
        // The CPU may change right after: any shard is correct, this one is just likely local.
        let shard = CpuId::current().as_u32() as usize % PAGE_COUNT_SHARDS;
        self.shards[shard].0.fetch_add(delta, Relaxed);
    }

    /// The count: exact when no change is under way.
    fn get(&self) -> usize {
        let sum = self
            .shards
            .iter()
            .fold(0isize, |sum, shard| sum.wrapping_add(shard.0.load(Relaxed)));
        sum.max(0) as usize
    }
}

fn list() -> *mut bindings::list_lru {
    LRU.list.get()
}

/// Counters of the LRU, for the diagnostics.
#[derive(Clone, Copy)]
pub(crate) struct LruStats {
    /// Pages of the purgeable ranges on the list.
    pub(crate) pages: usize,
    /// Times reclaim asked the shrinker to scan.
    pub(crate) scans: usize,
    /// Pages purged by the shrinker so far.
    pub(crate) shrinker_purged: usize,
    /// Pages purged by `ASHMEM_PURGE_ALL_CACHES` so far.
    pub(crate) ioctl_purged: usize,
}

/// The LRU's counters now.
pub(crate) fn stats() -> LruStats {
    LruStats {
        pages: LRU.pages.get(),
        scans: LRU.scans.load(Relaxed),
        shrinker_purged: LRU.shrinker_purged.load(Relaxed),
        ioctl_purged: LRU.ioctl_purged.load(Relaxed),
    }
}

/// The LRU and its shrinker, set up; the module holds this and tears them down on drop.
pub(crate) struct LruRegistration(());

impl LruRegistration {
    /// Sets up the list, the entry cache and the shrinker. Called once, at module load, before
    /// the device is registered.
    pub(crate) fn register() -> Result<Self> {
        static DONE: AtomicBool = AtomicBool::new(false);
        if DONE.swap(true, Relaxed) {
            return Err(EBUSY);
        }
        // SAFETY: The name is a valid NUL-terminated string.
        let shrinker =
            unsafe { ashmem_shrinker_alloc(c"ashmem".as_char_ptr()) }.cast::<bindings::shrinker>();
        if shrinker.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: Guarded above to run once, before any entry can exist: nothing else touches
        // the list yet. A memcg-aware list takes its shrinker's id, so the shrinker comes first.
        let ret = unsafe {
            list().write_bytes(0, 1);
            bindings::__list_lru_init(list(), true, shrinker)
        };
        if ret != 0 {
            // SAFETY: The shrinker was allocated above and never registered.
            unsafe { bindings::shrinker_free(shrinker) };
            return Err(Error::from_errno(ret));
        }
        // SAFETY: The name is a valid NUL-terminated string; size and alignment are the entry's.
        let cache = unsafe {
            ashmem_lru_cache_create(
                c"ashmem_lru_entry".as_char_ptr(),
                size_of::<EntryData>() as c_uint,
                align_of::<EntryData>() as c_uint,
            )
        };
        if cache.is_null() {
            // SAFETY: Both were set up above and are not in use.
            unsafe {
                bindings::list_lru_destroy(list());
                bindings::shrinker_free(shrinker);
            }
            return Err(ENOMEM);
        }
        LRU.cache.store(cache, Relaxed);
        LRU.shrinker.store(shrinker, Relaxed);
        // SAFETY: The shrinker is allocated and not yet registered, so its callbacks may be set;
        // everything they use is ready.
        // INVARIANT: the list, the cache and the shrinker are all set up.
        unsafe {
            (*shrinker).count_objects = Some(count_pages);
            (*shrinker).scan_objects = Some(scan_pages);
            bindings::shrinker_register(shrinker);
        }
        Ok(Self(()))
    }
}

impl Drop for LruRegistration {
    fn drop(&mut self) {
        // SAFETY: By the type invariant all three are set up. No region is left (each open file
        // and each backing file holds a module reference), so no entry is either: the list is
        // empty and the cache unused. `shrinker_free` waits for a running scan to finish.
        unsafe {
            bindings::shrinker_free(LRU.shrinker.swap(ptr::null_mut(), Relaxed));
            bindings::list_lru_destroy(list());
            bindings::kmem_cache_destroy(LRU.cache.swap(ptr::null_mut(), Relaxed));
        }
    }
}

/// An entry as the list sees it.
#[repr(C)]
struct EntryData {
    /// The list node. First, so that the list's pointer to it is a pointer to the entry.
    link: Opaque<bindings::list_head>,
    /// The region whose range this is; never changes.
    region: *const Region,
    /// First page of the range; read and written with the region's lock held.
    start: usize,
    /// Pages of the range; written with the region's lock held, read by page counts that hold
    /// only the list lock.
    pages: AtomicUsize,
    /// Whether the entry was put on the list and not yet taken off; read and written with the
    /// region's lock held.
    linked: bool,
}

/// The purge LRU entry of one purgeable range, owned by that range.
///
/// # Invariants
///
/// `ptr` points to an initialised `EntryData` allocated from `LRU.cache` and owned by this
/// value. Its region lives in an `Arc` and takes its ranges, with their entries, off the list
/// before that `Arc` is dropped. While `linked` is set the entry is on the list.
pub(crate) struct LruEntry {
    ptr: NonNull<EntryData>,
}

// SAFETY: The entry belongs to its range; the fields others touch are atomic, or guarded by the
// region's lock or the list lock.
unsafe impl Send for LruEntry {}

impl LruEntry {
    /// A new entry, not yet on the list, for a range of `region`, which must live in an `Arc`.
    /// It is charged to `memcg`, the region's, and will be listed under it.
    pub(crate) fn new(region: &Region, memcg: &Memcg) -> Result<Self> {
        let cache = LRU.cache.load(Relaxed);
        if cache.is_null() {
            return Err(ENODEV);
        }
        // SAFETY: The cache and the list are set up while the module is loaded with a region
        // open, as it is; `memcg` is null or referenced.
        let raw = unsafe { ashmem_lru_entry_alloc(cache.cast(), list().cast(), memcg.ptr) };
        let ptr = NonNull::new(raw.cast::<EntryData>()).ok_or(ENOMEM)?;
        let entry = ptr.as_ptr();
        // SAFETY: `entry` is a new allocation with the size and alignment of `EntryData`.
        // INVARIANT: initialised, owned, not on the list.
        unsafe {
            entry.write(EntryData {
                link: Opaque::uninit(),
                region,
                start: 0,
                pages: AtomicUsize::new(0),
                linked: false,
            });
            bindings::INIT_LIST_HEAD(Opaque::cast_into(&raw const (*entry).link));
        }
        Ok(Self { ptr })
    }

    /// Whether this is the entry the walk found.
    pub(crate) fn is(&self, victim: &Victim<'_>) -> bool {
        ptr::eq(self.ptr.as_ptr(), victim.entry)
    }
}

impl RangeLink for LruEntry {
    fn place(&mut self, start: usize, end: usize) {
        let entry = self.ptr.as_ptr();
        let pages = end - start;
        // SAFETY: By the type invariant `entry` is valid. `&mut self` means the caller owns the
        // range, so it holds the region's lock, which guards `start` and `linked`. The list
        // functions lock the list.
        unsafe {
            (*entry).start = start;
            let old = (*entry).pages.swap(pages, Relaxed);
            if (*entry).linked {
                LRU.pages.add(pages as isize - old as isize);
            } else {
                LRU.pages.add(pages as isize);
                // INVARIANT: on the list from here.
                (*entry).linked = true;
                bindings::list_lru_add_obj(list(), Opaque::cast_into(&raw const (*entry).link));
            }
        }
    }

    fn unplace(&mut self) {
        let entry = self.ptr.as_ptr();
        // SAFETY: By the type invariant `entry` is valid. `&mut self` means its owner holds the
        // region's lock, which guards `linked`, or never put it on the list. The walk may have
        // isolated it meanwhile (and cleared `linked` under the region's lock): the list
        // function locks the list and says whether it was still there.
        unsafe {
            if (*entry).linked {
                // INVARIANT: off the list from here.
                (*entry).linked = false;
                if bindings::list_lru_del_obj(list(), Opaque::cast_into(&raw const (*entry).link)) {
                    LRU.pages.add(-((*entry).pages.load(Relaxed) as isize));
                }
            }
        }
    }
}

impl Drop for LruEntry {
    fn drop(&mut self) {
        self.unplace();
        // SAFETY: By the type invariant `entry` is valid and ours, and it is off the list now,
        // so no walk can find it: it can be freed.
        unsafe { bindings::kmem_cache_free(LRU.cache.load(Relaxed), self.ptr.as_ptr().cast()) };
    }
}

/// The state of one walk over the list.
struct Scan {
    /// Pages to purge before stopping.
    want: usize,
    /// Pages purged so far.
    freed: usize,
    /// Entries the walk may still look at; set to 0 to stop it.
    nr_to_walk: c_ulong,
}

/// An entry the walk is looking at, with its list's lock held.
///
/// # Invariants
///
/// The walk that made this holds the lock of `list`, and `entry` is on that list.
pub(crate) struct Victim<'a> {
    entry: *mut EntryData,
    list: *mut bindings::list_lru_one,
    _walk: PhantomData<&'a mut Scan>,
}

/// What the walk does with an entry: leave it (list lock still held), or count it purged (entry
/// off the list, list lock dropped).
pub(crate) struct Verdict {
    status: bindings::lru_status,
    pages: usize,
}

/// An entry taken off the list by [`Victim::isolate`]; the list lock is no longer held.
pub(crate) struct Isolated(());

impl Victim<'_> {
    /// The first page of the entry's range.
    ///
    /// # Safety
    ///
    /// The caller holds the lock of the entry's region.
    pub(crate) unsafe fn start(&self) -> usize {
        // SAFETY: By the type invariant the entry is on the list, so alive; by the caller's
        // guarantee `start` is not being written.
        unsafe { (*self.entry).start }
    }

    /// Leaves the entry for a later walk: its region or inode is busy. It goes to the tail, so
    /// the walk does not meet it again at once.
    pub(crate) fn busy(self) -> Verdict {
        Verdict {
            status: bindings::lru_status::LRU_ROTATE,
            pages: 0,
        }
    }

    /// Takes the entry off the list and drops the list lock.
    ///
    /// # Safety
    ///
    /// The caller holds the lock of the entry's region, and keeps it until the range is marked
    /// purged (which drops the entry).
    pub(crate) unsafe fn isolate(self) -> Isolated {
        let entry = self.entry;
        // SAFETY: By the type invariant the list is locked and the entry on it; by the caller's
        // guarantee `linked` may be written. The lock is dropped last: from then on the entry is
        // reached only through its range, under the region's lock.
        unsafe {
            bindings::list_lru_isolate(self.list, Opaque::cast_into(&raw const (*entry).link));
            // INVARIANT: off the list.
            (*entry).linked = false;
            LRU.pages.add(-((*entry).pages.load(Relaxed) as isize));
            bindings::spin_unlock(&raw mut (*self.list).lock);
        }
        Isolated(())
    }
}

impl Isolated {
    /// The range's `pages` were freed.
    pub(crate) fn purged(self, pages: usize) -> Verdict {
        // The list lock was dropped: the walk must start again from the head.
        Verdict {
            status: bindings::lru_status::LRU_REMOVED_RETRY,
            pages,
        }
    }
}

/// Walk callback: purges the range of one entry.
///
/// # Safety
///
/// Called by a list walk of [`walk`] with the lock of `list` held, `item` on it, and `arg` the
/// walk's [`Scan`].
unsafe extern "C" fn purge_entry(
    item: *mut bindings::list_head,
    list: *mut bindings::list_lru_one,
    arg: *mut c_void,
) -> bindings::lru_status {
    let entry = item.cast::<EntryData>();
    // SAFETY: The entry is on the list, whose lock is held, so its region has not yet taken its
    // ranges off the list: the region is alive and its file holds a reference to it. Entries
    // are made only for regions in an `Arc`.
    let region = unsafe { ArcBorrow::from_raw((*entry).region) };
    // INVARIANT: the caller holds the list lock, and `entry` is on the list.
    let verdict = region.purge(Victim {
        entry,
        list,
        _walk: PhantomData,
    });
    // SAFETY: By the caller's guarantee `arg` is the walk's `Scan`, which nothing else uses
    // while the callback runs.
    let scan = unsafe { &mut *arg.cast::<Scan>() };
    scan.freed += verdict.pages;
    if scan.freed >= scan.want {
        scan.nr_to_walk = 0;
    }
    verdict.status
}

/// Purges from the oldest entries of the list of `memcg` on node `nid` (`None`: of every
/// cgroup), until `scan` says stop.
fn walk(nid: c_int, memcg: Option<*mut bindings::mem_cgroup>, scan: &mut Scan) {
    let scan: *mut Scan = scan;
    // SAFETY: The list is set up while regions exist, and a walk happens only then (from the
    // shrinker, registered after the list, or from an ioctl). `scan` outlives the call, and
    // `purge_entry` is a walk callback for it.
    unsafe {
        match memcg {
            Some(memcg) => bindings::list_lru_walk_one(
                list(),
                nid,
                memcg,
                Some(purge_entry),
                scan.cast(),
                &raw mut (*scan).nr_to_walk,
            ),
            None => bindings::list_lru_walk_node(
                list(),
                nid,
                Some(purge_entry),
                scan.cast(),
                &raw mut (*scan).nr_to_walk,
            ),
        };
    }
}

/// Walk callback of [`count_pages`]: adds up the pages of the entries.
///
/// # Safety
///
/// Called by a list walk with the list lock held, `item` on the list, and `arg` a `usize`.
unsafe extern "C" fn add_pages(
    item: *mut bindings::list_head,
    _list: *mut bindings::list_lru_one,
    arg: *mut c_void,
) -> bindings::lru_status {
    // SAFETY: The entry is on the list, whose lock is held, so alive; `arg` is the sum.
    unsafe { *arg.cast::<usize>() += (*item.cast::<EntryData>()).pages.load(Relaxed) };
    bindings::lru_status::LRU_SKIP
}

/// Shrinker callback: the pages on the list of `sc`'s cgroup and node.
///
/// # Safety
///
/// Called by the shrinker core with a valid `sc`.
unsafe extern "C" fn count_pages(
    _shrinker: *mut bindings::shrinker,
    sc: *mut bindings::shrink_control,
) -> c_ulong {
    // SAFETY: By the caller's guarantee.
    let sc = unsafe { &*sc };
    // SAFETY: The shrinker is registered after the list is set up and freed before it is
    // torn down.
    if unsafe { bindings::list_lru_count_one(list(), sc.nid, sc.memcg) } == 0 {
        return bindings::SHRINK_EMPTY as c_ulong;
    }
    // The list counts entries; reclaim wants pages, so add them up.
    let mut pages: usize = 0;
    let mut nr_to_walk = c_ulong::MAX;
    // SAFETY: As above; `add_pages` is a walk callback for a `usize`, which outlives the call.
    unsafe {
        bindings::list_lru_walk_one(
            list(),
            sc.nid,
            sc.memcg,
            Some(add_pages),
            (&raw mut pages).cast(),
            &mut nr_to_walk,
        )
    };
    pages as c_ulong
}

/// Shrinker callback: purges the oldest ranges on the list of `sc`'s cgroup and node until
/// `nr_to_scan` pages are freed. Returns the pages freed.
///
/// # Safety
///
/// Called by the shrinker core with a valid `sc`.
unsafe extern "C" fn scan_pages(
    _shrinker: *mut bindings::shrinker,
    sc: *mut bindings::shrink_control,
) -> c_ulong {
    // SAFETY: By the caller's guarantee.
    let sc = unsafe { &*sc };
    // Purging takes filesystem locks: not from an allocation that forbids that.
    if sc.gfp_mask & (1 << bindings::___GFP_FS_BIT) == 0 {
        return bindings::SHRINK_STOP as c_ulong;
    }
    LRU.scans.fetch_add(1, Relaxed);
    let mut scan = Scan {
        want: sc.nr_to_scan,
        freed: 0,
        // Each entry at most once, busy ones included.
        // SAFETY: As in `count_pages`.
        nr_to_walk: unsafe { bindings::list_lru_count_one(list(), sc.nid, sc.memcg) },
    };
    walk(sc.nid, Some(sc.memcg), &mut scan);
    LRU.shrinker_purged.fetch_add(scan.freed, Relaxed);
    scan.freed as c_ulong
}

/// Passes of [`purge_all`] over every list before it gives up on busy ranges.
const PURGE_ALL_PASSES: usize = 10;

/// Purges every range on the list, of every cgroup; returns the pages that were on it before.
///
/// Each pass looks at each entry about once: a walk of a node's lists is bounded by the number
/// of entries on them when it starts, since a busy entry is rotated to the tail and would
/// otherwise be found again and again, with the list lock held, by a walk that never ends
/// while its region's owner waits for that lock. A range whose region or inode stays busy
/// through all passes is left on the list; so are ranges unpinned while the passes run.
pub(crate) fn purge_all() -> usize {
    let before = LRU.pages.get();
    // SAFETY: A plain read of a kernel constant or variable.
    let nodes = unsafe { ashmem_nr_node_ids() };
    for _ in 0..PURGE_ALL_PASSES {
        if LRU.pages.get() == 0 {
            break;
        }
        let mut freed = 0;
        for nid in 0..nodes {
            let mut scan = Scan {
                want: usize::MAX,
                freed: 0,
                // SAFETY: The list is set up while regions exist, and this ioctl comes from
                // one; `nid` is below `nr_node_ids`.
                nr_to_walk: unsafe { bindings::list_lru_count_node(list(), nid as c_int) },
            };
            walk(nid as c_int, None, &mut scan);
            freed += scan.freed;
        }
        LRU.ioctl_purged.fetch_add(freed, Relaxed);
        if freed == 0 {
            // Only busy ranges are left: give their holders a moment.
            // SAFETY: Process context, no locks held.
            unsafe { bindings::msleep(1) };
        }
    }
    before
}
