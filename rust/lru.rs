// SPDX-License-Identifier: GPL-2.0

//! The purge LRU and the shrinker.
//!
//! Every purgeable range of every region owns an [`LruEntry`] on one `list_lru`, least recently
//! unpinned first. A shrinker, registered at module load, reports the pages of those ranges to
//! reclaim and purges the oldest when asked; `ASHMEM_PURGE_ALL_CACHES` purges them all.
//!
//! The list is memcg-aware. Entries come from a `SLAB_ACCOUNT` cache through
//! `kmem_cache_alloc_lru()`, charged to the memory cgroup of the task whose call allocates them
//! (see `memcg`), and are listed under that cgroup: the cgroup of the task whose `ASHMEM_UNPIN`
//! made the range. When a container's cgroup reaches `memory.max`, reclaim asks the shrinker
//! about that cgroup's list, and so purges the ranges that container unpinned. An entry holds
//! its charge as an [`ObjCgroup`], which the kernel moves to the parent when the cgroup is
//! removed, just as `list_lru` moves the entry itself.
//!
//! The lists count pages: each entry weighs its range's pages in the count `list_lru` keeps per
//! list (see `memcg_shim.c`), so the shrinker's count is that count, and when a cgroup is
//! removed the kernel moves the pages to the parent with the entries, in one step. A global
//! total ([`totals`]) serves `ASHMEM_PURGE_ALL_CACHES` and the diagnostics.
//!
//! Cost: a user can make a million one-page ranges in one region, so nothing reclaim does may
//! grow with the number of entries. The count reads one number. A scan looks at no more entries
//! than it purges, plus at most [`SCAN_BUSY_LIMIT`] it has to pass over, and says how many pages
//! it looked at in `sc->nr_scanned`. `ASHMEM_PURGE_ALL_CACHES` visits every entry, but drops the
//! list lock after each purge and after every few entries it passes over, and yields between
//! chunks.
//!
//! Locks: a region's mutex is taken before a list lock, never the other way round. The walk finds
//! an entry with the list lock held, so it only try-locks the entry's region, and the backing
//! inode, and passes over the entry when either is busy: an ioctl, or a write to the backing
//! file, may hold them while it allocates and so waits for reclaim. It then takes the entry off
//! the list and drops the list lock before freeing pages. Nothing allocates under either lock.
//! The type-state of the walk keeps that order: a [`Victim`] (list lock held) becomes either a
//! busy [`Verdict`] (lock still held), or, only with the region's lock held, an [`Isolated`]
//! entry (list lock dropped) and then a purged [`Verdict`].
//!
//! Owns: the list, the cache of its entries and the shrinker ([`LruRegistration`]); the entries
//! ([`LruEntry`], the [`RangeLink`] of a purgeable range); the walk and its type-state; the
//! pages on the list ([`totals`], [`stats`]).
//!
//! Needs: from a region, only what the walk asks of an entry's owner, [`RangeOwner`]: purge this
//! range under your lock, or say it is busy. The module never names the region type: the walk's
//! callbacks are generic over the owner type, which the crate root picks when it registers the
//! LRU (and `device` when it purges everything), so nothing is dispatched dynamically. From
//! `memcg`, the [`ObjCgroup`] an entry is charged to and listed under; from `pin`, the
//! [`RangeLink`] trait; from `sched`, yielding.

mod totals;

use core::{
    marker::PhantomData,
    mem::{align_of, size_of},
    ptr::{self, NonNull},
    sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::Relaxed},
};

use kernel::{
    bindings,
    ffi::{c_char, c_int, c_uint, c_ulong, c_void},
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::Opaque,
};

use crate::{memcg::ObjCgroup, pin::RangeLink};

extern "C" {
    /// Creates the `SLAB_ACCOUNT` cache of entries (see `shmem_shim.c`).
    fn ashmem_lru_cache_create(
        name: *const c_char,
        size: c_uint,
        align: c_uint,
    ) -> *mut bindings::kmem_cache;
    /// Allocates a memcg- and NUMA-aware shrinker.
    fn ashmem_shrinker_alloc(name: *const c_char) -> *mut c_void;
    /// The first possible node after `nid` (-1: the first), -1 after the last.
    fn ashmem_next_possible_node(nid: c_int) -> c_int;
    /// The node a slab object is on.
    fn ashmem_obj_nid(obj: *const c_void) -> c_int;
    /// `kmem_cache_alloc_lru()`, charged to the calling task's memory cgroup; `objcg` is set
    /// to a reference to the object cgroup of the charge (see `memcg_shim.c`).
    fn ashmem_lru_entry_alloc(
        cache: *mut c_void,
        lru: *mut c_void,
        objcg: *mut *mut c_void,
    ) -> *mut c_void;
    /// Puts an entry on its list with a weight of `pages`.
    fn ashmem_lru_add(
        lru: *mut bindings::list_lru,
        item: *mut bindings::list_head,
        nid: c_int,
        objcg: *mut c_void,
        pages: isize,
    );
    /// Changes the weight of a listed entry by `delta`.
    fn ashmem_lru_resize(
        lru: *mut bindings::list_lru,
        nid: c_int,
        objcg: *mut c_void,
        delta: isize,
    );
    /// Takes an entry of weight `pages` off its list; says whether it was on it.
    fn ashmem_lru_del(
        lru: *mut bindings::list_lru,
        item: *mut bindings::list_head,
        nid: c_int,
        objcg: *mut c_void,
        pages: isize,
    ) -> bool;
    /// `list_lru_isolate()` with the weight, from a walk callback.
    fn ashmem_lru_isolate(
        list: *mut bindings::list_lru_one,
        item: *mut bindings::list_head,
        pages: isize,
    );
}

/// The nodes the kernel has (the possible ones); node ids may have holes.
fn possible_nodes() -> impl Iterator<Item = c_int> {
    // SAFETY: A read of the possible-node map, which is fixed after boot.
    let first = unsafe { ashmem_next_possible_node(-1) };
    core::iter::successors(Some(first), |&nid| {
        // SAFETY: As above.
        Some(unsafe { ashmem_next_possible_node(nid) })
    })
    .take_while(|&nid| nid >= 0)
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
    scans: AtomicUsize::new(0),
    shrinker_purged: AtomicUsize::new(0),
    ioctl_purged: AtomicUsize::new(0),
};

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
        pages: totals::total(),
        scans: LRU.scans.load(Relaxed),
        shrinker_purged: LRU.shrinker_purged.load(Relaxed),
        ioctl_purged: LRU.ioctl_purged.load(Relaxed),
    }
}

/// The LRU and its shrinker, set up; the module holds this and tears them down on drop.
pub(crate) struct LruRegistration(());

impl LruRegistration {
    /// Sets up the list, the entry cache and the shrinker, whose scans purge ranges of `O`s,
    /// the one [`RangeOwner`] type. Called once, at module load, before the device is
    /// registered.
    pub(crate) fn register<O: RangeOwner>() -> Result<Self> {
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
            (*shrinker).scan_objects = Some(scan_pages::<O>);
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

/// The owner of the ranges whose entries are on the list: a region. The purge walk finds an
/// entry with the list lock held and hands it to its owner as a [`Victim`]; the owner either
/// leaves it ([`Victim::busy`]), or, holding its own lock, takes it off the list
/// ([`Victim::isolate`]), frees the range's pages and says how many ([`Isolated::purged`]).
///
/// # Safety
///
/// An implementor guarantees that
/// - every value of the type lives in an [`Arc`], and takes the entries of its ranges off the
///   list before the last reference to it (other than one the walk took) is dropped;
/// - it is the only type that implements this trait: the list has one walk callback, made by
///   [`LruRegistration::register`] for one owner type, and every entry's owner is taken to be
///   of that type.
pub(crate) unsafe trait RangeOwner: Send + Sync + Sized {
    /// Purges the range of `victim`, an entry of this owner that the walk found, if the owner's
    /// lock (and whatever else purging takes) can be had without waiting; leaves it otherwise.
    /// The walk holds the list lock, which nests inside the owner's lock: only try it.
    fn try_purge(self: ArcBorrow<'_, Self>, victim: Victim<'_, Self>) -> Verdict<Self>;
}

/// An entry as the list sees it.
#[repr(C)]
struct EntryData {
    /// The list node. First, so that the list's pointer to it is a pointer to the entry.
    link: Opaque<bindings::list_head>,
    /// The owner of the range, of the one [`RangeOwner`] type; never changes.
    owner: *const (),
    /// The cgroup the entry is charged to, and listed under; never changes (the kernel moves it
    /// to the parent when the cgroup is removed, as it moves the entry).
    objcg: ObjCgroup,
    /// The node the entry is listed on (that of its memory); never changes.
    nid: c_int,
    /// First page of the range; read and written with the owner's lock held.
    start: usize,
    /// Pages of the range; written with the owner's lock held, read by scans that hold only
    /// the list lock.
    pages: AtomicUsize,
    /// Whether the entry was put on the list and not yet taken off; read and written with the
    /// owner's lock held.
    linked: bool,
}

/// The purge LRU entry of one purgeable range, owned by that range.
///
/// # Invariants
///
/// `ptr` points to an initialised `EntryData` allocated from `LRU.cache` and owned by this
/// value. Its owner is a [`RangeOwner`], so it lives in an `Arc` and takes its ranges, with
/// their entries, off the list before that `Arc` is dropped. While `linked` is set the entry is
/// on the list of `objcg`'s cgroup (or of the ancestor the kernel moved it to) on node `nid`,
/// where it weighs `pages`, which are also counted in [`totals`].
pub(crate) struct LruEntry {
    ptr: NonNull<EntryData>,
}

// SAFETY: The entry belongs to its range; the fields others touch are atomic, or guarded by the
// owner's lock or the list lock.
unsafe impl Send for LruEntry {}

impl LruEntry {
    /// A new entry, not yet on the list, for a range of `owner` (see [`RangeOwner`]). It is
    /// charged to the calling task's memory cgroup, and will be listed under it.
    pub(crate) fn new<O: RangeOwner>(owner: &O) -> Result<Self> {
        // An owner exists only while the module is loaded, so while its `LruRegistration` does:
        // by the type invariant of `Lru` the cache is live.
        let cache = LRU.cache.load(Relaxed);
        let mut objcg = ptr::null_mut();
        // SAFETY: The cache and the list are set up while the module is loaded with a region
        // open, as it is; `objcg` is writable.
        let raw = unsafe { ashmem_lru_entry_alloc(cache.cast(), list().cast(), &mut objcg) };
        let ptr = NonNull::new(raw.cast::<EntryData>()).ok_or(ENOMEM)?;
        let entry = ptr.as_ptr();
        // SAFETY: The allocation gave us this reference.
        let objcg = unsafe { ObjCgroup::from_raw(objcg) };
        // SAFETY: `raw` is a live slab object.
        let nid = unsafe { ashmem_obj_nid(raw) };
        // SAFETY: `entry` is a new allocation with the size and alignment of `EntryData`.
        // INVARIANT: initialised, owned, not on the list, holding its charge; the owner is a
        // `RangeOwner`.
        unsafe {
            entry.write(EntryData {
                link: Opaque::uninit(),
                owner: ptr::from_ref(owner).cast(),
                objcg,
                nid,
                start: 0,
                pages: AtomicUsize::new(0),
                linked: false,
            });
            bindings::INIT_LIST_HEAD(Opaque::cast_into(&raw const (*entry).link));
        }
        Ok(Self { ptr })
    }

    /// Whether this is the entry the walk found.
    pub(crate) fn is<O>(&self, victim: &Victim<'_, O>) -> bool {
        ptr::eq(self.ptr.as_ptr(), victim.entry)
    }

    fn data(&self) -> &EntryData {
        // SAFETY: By the type invariant the entry is valid while `self` lives. The fields read
        // through this shared reference are either never written (`owner`, `objcg`, `nid`),
        // atomic (`pages`), or written only by the holder of the owner's lock through `&mut
        // self`, which excludes this borrow.
        unsafe { &*self.ptr.as_ptr() }
    }
}

impl RangeLink for LruEntry {
    fn place(&mut self, start: usize, end: usize) {
        let entry = self.ptr.as_ptr();
        let pages = end - start;
        let data = self.data();
        let (objcg, nid) = (data.objcg.as_ptr(), data.nid);
        // SAFETY: By the type invariant `entry` is valid. `&mut self` means the caller owns the
        // range, so it holds the owner's lock, which guards `start` and `linked`, and keeps the
        // walk from taking the entry off the list meanwhile. The list functions lock the list
        // the entry is on.
        unsafe {
            (*entry).start = start;
            let old = (*entry).pages.swap(pages, Relaxed);
            if (*entry).linked {
                // A listed entry is placed again only with a new size: its range trimmed, or
                // its right part kept by a PIN.
                let delta = pages as isize - old as isize;
                ashmem_lru_resize(list(), nid, objcg, delta);
                totals::add(delta);
            } else {
                // INVARIANT: on the list, and counted, from here.
                (*entry).linked = true;
                ashmem_lru_add(
                    list(),
                    Opaque::cast_into(&raw const (*entry).link),
                    nid,
                    objcg,
                    pages as isize,
                );
                totals::add(pages as isize);
            }
        }
    }

    fn unplace(&mut self) {
        let entry = self.ptr.as_ptr();
        let data = self.data();
        let (objcg, nid) = (data.objcg.as_ptr(), data.nid);
        // SAFETY: By the type invariant `entry` is valid. `&mut self` means the caller holds the
        // owner's lock, which guards `linked`, or never put it on the list. The walk may have
        // isolated it meanwhile (and cleared `linked` under the owner's lock): the list
        // function locks the list and says whether it was still there.
        unsafe {
            if (*entry).linked {
                // INVARIANT: off the list from here.
                (*entry).linked = false;
                let pages = (*entry).pages.load(Relaxed) as isize;
                if ashmem_lru_del(
                    list(),
                    Opaque::cast_into(&raw const (*entry).link),
                    nid,
                    objcg,
                    pages,
                ) {
                    totals::add(-pages);
                }
            }
        }
    }

    fn reusable(&self) -> bool {
        self.data().objcg.is_current()
    }
}

impl Drop for LruEntry {
    fn drop(&mut self) {
        self.unplace();
        let entry = self.ptr.as_ptr();
        // SAFETY: By the type invariant `entry` is valid and ours, and it is off the list now,
        // so no walk can find it: its charge can be dropped and it can be freed.
        unsafe {
            ptr::drop_in_place(&raw mut (*entry).objcg);
            bindings::kmem_cache_free(LRU.cache.load(Relaxed), entry.cast());
        }
    }
}

/// The entries a scan passes over (their region or inode busy) before it gives up: reclaim
/// asks again soon enough, and meanwhile holds no lock for them.
const SCAN_BUSY_LIMIT: usize = 16;

/// The state of one walk over the list.
struct Scan {
    /// Pages to purge before stopping.
    want: usize,
    /// Pages purged so far.
    freed: usize,
    /// Entries looked at so far.
    visited: usize,
    /// Pages of the entries passed over so far.
    passed: usize,
    /// Entries the walk may still pass over before it stops.
    busy_left: usize,
    /// Entries the walk may still look at; set to 0 to stop it.
    nr_to_walk: c_ulong,
}

impl Scan {
    fn new(want: usize, nr_to_walk: usize) -> Self {
        Self {
            want,
            freed: 0,
            visited: 0,
            passed: 0,
            busy_left: SCAN_BUSY_LIMIT,
            nr_to_walk,
        }
    }
}

/// An entry of an `O` the walk is looking at, with its list's lock held.
///
/// # Invariants
///
/// The walk that made this holds the lock of `list`, and `entry` is on that list.
pub(crate) struct Victim<'a, O> {
    entry: *mut EntryData,
    list: *mut bindings::list_lru_one,
    _walk: PhantomData<&'a mut Scan>,
    _owner: PhantomData<fn() -> O>,
}

/// What the walk does with an entry: leave it (list lock still held), or count it purged (entry
/// off the list, list lock dropped). When the owner must be kept alive past its unlock, the
/// reference comes along, to be dropped once nothing borrows the owner any more.
pub(crate) struct Verdict<O> {
    status: bindings::lru_status,
    freed: usize,
    passed: usize,
    keep: Option<Arc<O>>,
}

/// An entry of an `O` taken off the list by [`Victim::isolate`]; the list lock is no longer
/// held.
pub(crate) struct Isolated<O>(PhantomData<fn() -> O>);

impl<O> Victim<'_, O> {
    /// The first page of the entry's range.
    ///
    /// # Safety
    ///
    /// The caller holds the lock of the entry's owner.
    pub(crate) unsafe fn start(&self) -> usize {
        // SAFETY: By the type invariant the entry is on the list, so alive; by the caller's
        // guarantee `start` is not being written.
        unsafe { (*self.entry).start }
    }

    /// Leaves the entry for a later walk: its owner or inode is busy. It goes to the tail, so
    /// the walk does not meet it again at once.
    pub(crate) fn busy(self) -> Verdict<O> {
        // SAFETY: By the type invariant the entry is on the list, so alive; `pages` is atomic.
        let pages = unsafe { (*self.entry).pages.load(Relaxed) };
        Verdict {
            status: bindings::lru_status::LRU_ROTATE,
            freed: 0,
            passed: pages,
            keep: None,
        }
    }

    /// Takes the entry off the list and drops the list lock.
    ///
    /// # Safety
    ///
    /// The caller holds the lock of the entry's owner, and keeps it until the range is marked
    /// purged (which drops the entry).
    pub(crate) unsafe fn isolate(self) -> Isolated<O> {
        let entry = self.entry;
        // SAFETY: By the type invariant the list is locked and the entry on it; by the caller's
        // guarantee `linked` may be written, and the entry, with its counter, is alive. The lock
        // is dropped last: from then on the entry is reached only through its range, under the
        // owner's lock.
        unsafe {
            let pages = (*entry).pages.load(Relaxed) as isize;
            ashmem_lru_isolate(
                self.list,
                Opaque::cast_into(&raw const (*entry).link),
                pages,
            );
            // INVARIANT: off the list, and no longer counted.
            (*entry).linked = false;
            totals::add(-pages);
            bindings::spin_unlock(&raw mut (*self.list).lock);
        }
        Isolated(PhantomData)
    }
}

impl<O> Isolated<O> {
    /// The range's `pages` were freed; `keep` is the reference that kept the owner alive after
    /// its unlock.
    pub(crate) fn purged(self, pages: usize, keep: Arc<O>) -> Verdict<O> {
        // The list lock was dropped: the walk must start again from the head.
        Verdict {
            status: bindings::lru_status::LRU_REMOVED_RETRY,
            freed: pages,
            passed: 0,
            keep: Some(keep),
        }
    }
}

/// Walk callback: purges the range of one entry, whose owner is an `O`.
///
/// # Safety
///
/// Called by a list walk of [`walk`] with the lock of `list` held, `item` on it, and `arg` the
/// walk's [`Scan`].
unsafe extern "C" fn purge_entry<O: RangeOwner>(
    item: *mut bindings::list_head,
    list: *mut bindings::list_lru_one,
    arg: *mut c_void,
) -> bindings::lru_status {
    let entry = item.cast::<EntryData>();
    let verdict = {
        // SAFETY: The entry is on the list, whose lock is held. Its owner is an `O`, the one
        // `RangeOwner` type, so it lives in an `Arc`, and has not yet taken its ranges off the
        // list: a reference to it is still held. The borrow ends with this block; should the
        // owner need to outlive its unlock, the verdict holds a reference of its own.
        let owner = unsafe { ArcBorrow::from_raw((*entry).owner.cast::<O>()) };
        // INVARIANT: the caller holds the list lock, and `entry` is on the list.
        owner.try_purge(Victim {
            entry,
            list,
            _walk: PhantomData,
            _owner: PhantomData,
        })
    };
    // SAFETY: By the caller's guarantee `arg` is the walk's `Scan`, which nothing else uses
    // while the callback runs.
    let scan = unsafe { &mut *arg.cast::<Scan>() };
    scan.visited += 1;
    scan.freed += verdict.freed;
    if verdict.status == bindings::lru_status::LRU_ROTATE {
        scan.passed += verdict.passed;
        scan.busy_left = scan.busy_left.saturating_sub(1);
    }
    if scan.freed >= scan.want || scan.busy_left == 0 {
        scan.nr_to_walk = 0;
    }
    // The last reference to the owner may go here: the list lock was dropped with the entry
    // (a busy verdict holds none), and the borrow above has ended.
    drop(verdict.keep);
    verdict.status
}

/// Purges from the oldest entries of the list of `memcg` on node `nid` (`None`: of every
/// cgroup), until `scan` says stop. The entries' owners are `O`s.
fn walk<O: RangeOwner>(nid: c_int, memcg: Option<*mut bindings::mem_cgroup>, scan: &mut Scan) {
    let scan: *mut Scan = scan;
    // SAFETY: The list is set up while regions exist, and a walk happens only then (from the
    // shrinker, registered after the list, or from an ioctl); `nid` is a possible node (the
    // shrinker core's, or one of `possible_nodes`). `scan` outlives the call, and
    // `purge_entry` is a walk callback for it.
    unsafe {
        match memcg {
            Some(memcg) => bindings::list_lru_walk_one(
                list(),
                nid,
                memcg,
                Some(purge_entry::<O>),
                scan.cast(),
                &raw mut (*scan).nr_to_walk,
            ),
            None => bindings::list_lru_walk_node(
                list(),
                nid,
                Some(purge_entry::<O>),
                scan.cast(),
                &raw mut (*scan).nr_to_walk,
            ),
        };
    }
}

/// Shrinker callback: the pages on the list of `sc`'s cgroup and node, which the list counts
/// itself (each entry weighs its pages), those of removed child cgroups that `list_lru` moved
/// here included. O(1).
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
    // torn down; the shrinker core holds the cgroup it asks about.
    match unsafe { bindings::list_lru_count_one(list(), sc.nid, sc.memcg) } {
        0 => bindings::SHRINK_EMPTY as c_ulong,
        pages => pages,
    }
}

/// Shrinker callback: purges the oldest ranges on the list of `sc`'s cgroup and node until
/// `nr_to_scan` pages are freed, passing over at most [`SCAN_BUSY_LIMIT`] busy ones. Returns
/// the pages freed, and sets `nr_scanned` to the pages looked at; stops reclaim asking again
/// when nothing could be purged. The ranges' owners are `O`s.
///
/// # Safety
///
/// Called by the shrinker core with a valid `sc`.
unsafe extern "C" fn scan_pages<O: RangeOwner>(
    _shrinker: *mut bindings::shrinker,
    sc: *mut bindings::shrink_control,
) -> c_ulong {
    // SAFETY: By the caller's guarantee, and nothing else uses `sc` during the call.
    let sc = unsafe { &mut *sc };
    // Purging takes filesystem locks: not from an allocation that forbids that.
    if sc.gfp_mask & (1 << bindings::___GFP_FS_BIT) == 0 {
        return bindings::SHRINK_STOP as c_ulong;
    }
    LRU.scans.fetch_add(1, Relaxed);
    // SAFETY: As in `count_pages`.
    let pages = unsafe { bindings::list_lru_count_one(list(), sc.nid, sc.memcg) };
    // Each entry holds at least a page, and each purged entry frees at least one: no more
    // entries than pages listed or wanted, and the busy ones.
    let want = sc.nr_to_scan;
    let mut scan = Scan::new(want, pages.min(want.saturating_add(SCAN_BUSY_LIMIT)));
    walk::<O>(sc.nid, Some(sc.memcg), &mut scan);
    LRU.shrinker_purged.fetch_add(scan.freed, Relaxed);
    if scan.freed == 0 {
        // Nothing on the list, or only busy ranges: asking again at once would find the same.
        return bindings::SHRINK_STOP as c_ulong;
    }
    sc.nr_scanned = scan.freed + scan.passed;
    scan.freed
}

/// Passes of [`purge_all`] over every list before it gives up on busy ranges.
const PURGE_ALL_PASSES: usize = 10;

/// Entries [`purge_all`] looks at per walk, between which it yields.
const PURGE_ALL_CHUNK: usize = 1024;

/// Purges every range on the list, of every cgroup; returns the pages that were on it before.
///
/// Each pass looks at each entry about once: the walks of a node's lists are bounded by the
/// number of entries on them when the pass starts, since a busy entry is rotated to the tail
/// and would otherwise be found again and again. A walk covers at most [`PURGE_ALL_CHUNK`]
/// entries and stops after passing over [`SCAN_BUSY_LIMIT`] (the list lock is held from one
/// purge to the next), so the lock is never held for long, and the task yields between walks.
/// A range whose owner or inode stays busy through all passes is left on the list; so are
/// ranges unpinned while the passes run. The ranges' owners are `O`s, the one [`RangeOwner`]
/// type.
pub(crate) fn purge_all<O: RangeOwner>() -> usize {
    let before = totals::total();
    for _ in 0..PURGE_ALL_PASSES {
        if totals::total() == 0 {
            break;
        }
        let mut freed = 0;
        for nid in possible_nodes() {
            // SAFETY: The list is set up while regions exist, and this ioctl comes from one;
            // `nid` is a possible node, whose lists `list_lru` set up.
            let mut budget = unsafe { bindings::list_lru_count_node(list(), nid) };
            while budget > 0 {
                let mut scan = Scan::new(usize::MAX, budget.min(PURGE_ALL_CHUNK));
                walk::<O>(nid, None, &mut scan);
                freed += scan.freed;
                if scan.visited == 0 {
                    break;
                }
                budget = budget.saturating_sub(scan.visited);
                crate::sched::yield_now();
            }
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
