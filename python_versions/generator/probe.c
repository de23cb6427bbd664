/*
 * Layout probe for python_versions/generator/generate.py.
 *
 * Compiled once per CPython version against that version's installed headers with
 *   gcc -DPy_BUILD_CORE -I<include dir> [-I<pyconfig dir>] probe.c
 * (Py_BUILD_CORE unlocks the internal/ headers; no other define is needed by any version here)
 * and run; it prints one line per `Layout` field:
 *   <field>\t<value>\t<how the value was obtained>     or     <field>\tABSENT\t
 * plus, on 3.13+, `#debug\t<section.field>\t<offset>` lines: where `_Py_DebugOffsets` (the
 * layout the interpreter publishes) keeps each field pyprobe reads from it,
 * plus `#mirror\t<url>\t<what>` lines naming every private CPython struct that had to be
 * mirrored here because the version does not install the header that defines it.
 *
 * Everything that exists in an installed header (public or internal/) is measured with
 * offsetof/sizeof on the real definition. The mirrors below are used only where CPython keeps the
 * struct private to a .c file or a non-installed header; each names the file and tag it copies.
 *
 * Nothing here is linked against libpython: only header-only inline helpers are called.
 */
#include <Python.h>
#if PY_VERSION_HEX < 0x030B0000
#include <code.h>        /* PyCodeObject (3.11+: cpython/code.h, included by Python.h) */
#include <frameobject.h> /* PyFrameObject (3.11+: private, and not needed) */
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- internal headers */
#if PY_VERSION_HEX >= 0x030B0000 /* 3.11+ */
#include "internal/pycore_code.h"
#include "internal/pycore_dict.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_gil.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_moduleobject.h"
#include "internal/pycore_object.h"
#include "internal/pycore_pystate.h"
#include "internal/pycore_runtime.h"
#if PY_VERSION_HEX >= 0x030E0000 /* 3.14+ */
#include "internal/pycore_interpframe_structs.h"
#include "internal/pycore_stackref.h"
#endif
#elif PY_VERSION_HEX >= 0x03090000 /* 3.9, 3.10 */
#include "internal/pycore_gil.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"
#include "internal/pycore_runtime.h"
#if PY_VERSION_HEX >= 0x030A0000
#include "internal/pycore_moduleobject.h"
#endif
#elif PY_VERSION_HEX >= 0x03080000 /* 3.8 */
#include "internal/pycore_gil.h"
#include "internal/pycore_pystate.h"
#elif PY_VERSION_HEX >= 0x03070000 /* 3.7: internal/ has no pycore_ prefix yet */
#include "internal/gil.h"
#include "internal/pystate.h"
#endif

#define TAG "v" PY_VERSION

/* The tables describe default release builds: these change struct layouts. */
#if defined(Py_DEBUG) || defined(Py_TRACE_REFS) || defined(Py_GIL_DISABLED) || \
    defined(Py_STACKREF_DEBUG)
#error "headers of a debug / trace-refs / free-threaded build: the tables describe default builds"
#endif

/* ------------------------------------------------------------------------- mirrors */

#if PY_MAJOR_VERSION == 2
/* https://github.com/python/cpython/blob/v2.7.18/Objects/moduleobject.c */
typedef struct {
    PyObject_HEAD
    PyObject *md_dict;
} mirror_PyModuleObject;
#define MIRROR_MODULE 1
#endif

#if PY_MAJOR_VERSION == 3 && PY_MINOR_VERSION <= 9
/* Objects/moduleobject.c, identical in the releases used here:
 *   https://github.com/python/cpython/blob/v3.6.15/Objects/moduleobject.c
 *   https://github.com/python/cpython/blob/v3.7.16/Objects/moduleobject.c
 *   https://github.com/python/cpython/blob/v3.8.18/Objects/moduleobject.c
 *   https://github.com/python/cpython/blob/v3.9.18/Objects/moduleobject.c
 * (3.10 moved it to the installed Include/internal/pycore_moduleobject.h.) */
typedef struct {
    PyObject_HEAD
    PyObject *md_dict;
    struct PyModuleDef *md_def;
    void *md_state;
    PyObject *md_weaklist;
    PyObject *md_name; /* for logging purposes after md_dict is cleared */
} mirror_PyModuleObject;
#define MIRROR_MODULE 1
#endif

#if PY_MAJOR_VERSION == 3 && PY_MINOR_VERSION >= 6 && PY_MINOR_VERSION <= 10
/* Objects/dict-common.h (3.11 moved both structs to the installed
 * Include/internal/pycore_dict.h and changed them):
 *   https://github.com/python/cpython/blob/v3.6.15/Objects/dict-common.h   (dk_indices: union)
 *   https://github.com/python/cpython/blob/v3.7.16/Objects/dict-common.h   (dk_indices: char[])
 *   https://github.com/python/cpython/blob/v3.8.18/Objects/dict-common.h
 *   https://github.com/python/cpython/blob/v3.9.18/Objects/dict-common.h
 *   https://github.com/python/cpython/blob/v3.10.13/Objects/dict-common.h
 * Only the field types matter for the layout; the comments are CPython's. */
typedef struct {
    /* Cached hash code of me_key. */
    Py_hash_t me_hash;
    PyObject *me_key;
    PyObject *me_value; /* This field is only meaningful for combined tables */
} mirror_PyDictKeyEntry;

/* The real typedef's arguments differ between releases; only its size (a function pointer)
 * matters for the layout. */
typedef Py_ssize_t (*mirror_dict_lookup_func)(void);

struct mirror_dictkeysobject {
    Py_ssize_t dk_refcnt;
    /* Size of the hash table (dk_indices). It must be a power of 2. */
    Py_ssize_t dk_size;
    mirror_dict_lookup_func dk_lookup;
    /* Number of usable entries in dk_entries. */
    Py_ssize_t dk_usable;
    /* Number of used entries in dk_entries. */
    Py_ssize_t dk_nentries;
#if PY_MINOR_VERSION == 6
    /* 3.6: a fixed 8-byte union; "Dynamically sized, 8 is minimum." */
    union {
        int8_t as_1[8];
        int16_t as_2[4];
        int32_t as_4[2];
#if SIZEOF_VOID_P > 4
        int64_t as_8[1];
#endif
    } dk_indices;
#else
    /* 3.7 - 3.10: a flexible array. */
    char dk_indices[]; /* char is required to avoid strict aliasing. */
#endif
    /* "PyDictKeyEntry dk_entries[dk_usable];" array follows */
};
#define MIRROR_DICT_COMMON 1
#endif

#if PY_VERSION_HEX < 0x03070000
/* Modules/gcmodule.c keeps the generations static up to 3.6 (3.7 moved them to the installed
 * internal/mem.h):
 *   https://github.com/python/cpython/blob/v2.7.18/Modules/gcmodule.c
 *   https://github.com/python/cpython/blob/v3.6.15/Modules/gcmodule.c */
struct mirror_gc_generation {
    PyGC_Head head;
    int threshold; /* collection threshold */
    int count;     /* count of allocations or collections of younger generations */
};
#define MIRROR_GC_GENERATION 1
#endif

/* --------------------------------------------------------------------------- output */

static void put(const char *field, long long value, const char *how)
{
    printf("%s\t%lld\t%s\n", field, value, how);
}

static void absent(const char *field)
{
    printf("%s\tABSENT\t\n", field);
}

__attribute__((unused)) static void fail(const char *what)
{
    fprintf(stderr, "probe: %s\n", what);
    exit(1);
}

#define OFF(field, type, member) \
    put(#field, (long long)offsetof(type, member), "offsetof(" #type ", " #member ")")
#define SIZE(field, type) put(#field, (long long)sizeof(type), "sizeof(" #type ")")
#define CONST(field, expr) put(#field, (long long)(expr), #expr)
#define NONE(field) absent(#field)
/* `#debug\t<section.field>\t<offset in _Py_DebugOffsets>` (3.13+). */
#define DBG(member)                                                                           \
    printf("#debug\t%s\t%lld\n", #member, (long long)offsetof(_Py_DebugOffsets, member))

__attribute__((unused)) static int lowest_bit(uint32_t word)
{
    for (int i = 0; i < 32; i++) {
        if (word & (1u << i)) {
            return i;
        }
    }
    return -1;
}

#if PY_MAJOR_VERSION >= 3
/* Which bits of the 32-bit state word a bitfield assignment sets, on a zeroed PyASCIIObject. */
#define STATE_BITS(member, value, out)                                                        \
    do {                                                                                      \
        PyASCIIObject o_;                                                                     \
        uint32_t w_;                                                                          \
        memset(&o_, 0, sizeof o_);                                                            \
        o_.state.member = (value);                                                            \
        memcpy(&w_, (char *)&o_ + offsetof(PyASCIIObject, state), sizeof w_);                 \
        (out) = w_;                                                                           \
    } while (0)
#endif

int main(void)
{
    printf("#version\t%d\t%d\t%s\n", PY_MAJOR_VERSION, PY_MINOR_VERSION, PY_VERSION);
#ifdef MIRROR_MODULE
    printf("#mirror\thttps://github.com/python/cpython/blob/%s/Objects/moduleobject.c\t"
           "PyModuleObject (module_md_dict)\n", TAG);
#endif
#ifdef MIRROR_GC_GENERATION
    printf("#mirror\thttps://github.com/python/cpython/blob/%s/Modules/gcmodule.c\t"
           "struct gc_generation (gc_generation_size)\n", TAG);
#endif
#ifdef MIRROR_DICT_COMMON
    printf("#mirror\thttps://github.com/python/cpython/blob/%s/Objects/dict-common.h\t"
           "struct _dictkeysobject, PyDictKeyEntry (dictkeys_*, dict_entry_size)\n", TAG);
#endif

    /* --- PyObject / PyVarObject / PyTypeObject / PyHeapTypeObject --- */
    OFF(ob_type, PyObject, ob_type);
    OFF(var_ob_size, PyVarObject, ob_size);
    OFF(tp_name, PyTypeObject, tp_name);
    OFF(tp_basicsize, PyTypeObject, tp_basicsize);
    OFF(tp_dictoffset, PyTypeObject, tp_dictoffset);
    OFF(tp_flags, PyTypeObject, tp_flags);
    OFF(tp_itemsize, PyTypeObject, tp_itemsize);
    OFF(tp_dict, PyTypeObject, tp_dict);
#if PY_MAJOR_VERSION >= 3
    OFF(ht_cached_keys, PyHeapTypeObject, ht_cached_keys);
#else
    NONE(ht_cached_keys);
#endif
#ifdef Py_TPFLAGS_MANAGED_DICT
    CONST(tpflags_managed_dict, Py_TPFLAGS_MANAGED_DICT);
#else
    NONE(tpflags_managed_dict);
#endif
#ifdef Py_TPFLAGS_INLINE_VALUES
    CONST(tpflags_inline_values, Py_TPFLAGS_INLINE_VALUES);
#else
    NONE(tpflags_inline_values);
#endif

#if PY_VERSION_HEX >= 0x030B0000
    {
        /* Ask the real inline helpers where they look, on a fake object whose type has the
         * managed-dict flag (their asserts check it). */
        static PyTypeObject fake_type;
        static union {
            char bytes[256];
            void *align;
        } buf;
        PyObject *obj = (PyObject *)(buf.bytes + 128);
        long long dict_off;
        fake_type.tp_flags = Py_TPFLAGS_MANAGED_DICT;
        obj->ob_type = &fake_type;
#if PY_VERSION_HEX >= 0x030D0000
        dict_off = (char *)_PyObject_ManagedDictPointer(obj) - (char *)obj;
        put("managed_dict_offset", dict_off, "(char *)_PyObject_ManagedDictPointer(obj) - (char *)obj");
#elif PY_VERSION_HEX >= 0x030C0000
        dict_off = (char *)_PyObject_DictOrValuesPointer(obj) - (char *)obj;
        put("managed_dict_offset", dict_off, "(char *)_PyObject_DictOrValuesPointer(obj) - (char *)obj");
#else
        dict_off = (char *)_PyObject_ManagedDictPointer(obj) - (char *)obj;
        put("managed_dict_offset", dict_off, "(char *)_PyObject_ManagedDictPointer(obj) - (char *)obj");
#endif
#ifdef MANAGED_DICT_OFFSET
        if (dict_off != (long long)MANAGED_DICT_OFFSET) {
            fail("managed dict pointer helper disagrees with MANAGED_DICT_OFFSET");
        }
#endif
#if PY_VERSION_HEX < 0x030C0000
        put("managed_values_offset", (char *)_PyObject_ValuesPointer(obj) - (char *)obj,
            "(char *)_PyObject_ValuesPointer(obj) - (char *)obj");
#else
        NONE(managed_values_offset);
#endif
    }
#else
    NONE(managed_dict_offset);
    NONE(managed_values_offset);
#endif

#if PY_VERSION_HEX >= 0x030C0000
    CONST(tpflags_preheader, Py_TPFLAGS_PREHEADER);
#elif PY_VERSION_HEX >= 0x030B0000
    /* 3.11: only a managed dict puts the two words before the GC header
     * (https://github.com/python/cpython/blob/v3.11.7/Include/internal/pycore_object.h). */
    CONST(tpflags_preheader, Py_TPFLAGS_MANAGED_DICT);
#else
    NONE(tpflags_preheader);
#endif

    /* --- list --- */
    OFF(list_ob_item, PyListObject, ob_item);
    OFF(list_allocated, PyListObject, allocated);

    /* --- the collector's lists of tracked containers --- */
    SIZE(gc_head_size, PyGC_Head);
#ifdef MIRROR_GC_GENERATION
    SIZE(gc_generation_size, struct mirror_gc_generation);
    NONE(runtime_gc);
    NONE(interp_gc);
    NONE(gc_generations);
    NONE(gc_generation0);
    NONE(gc_permanent);
#else
    SIZE(gc_generation_size, struct gc_generation);
#if PY_VERSION_HEX < 0x03090000 /* 3.7, 3.8: in _PyRuntimeState */
    OFF(runtime_gc, _PyRuntimeState, gc);
    NONE(interp_gc);
#else
    NONE(runtime_gc);
    OFF(interp_gc, PyInterpreterState, gc);
#endif
    OFF(gc_generations, struct _gc_runtime_state, generations);
    OFF(gc_generation0, struct _gc_runtime_state, generation0);
    OFF(gc_permanent, struct _gc_runtime_state, permanent_generation);
#endif

    /* --- pymalloc's arenas: static in Objects/obmalloc.c up to 3.11 (found by symbol),
     * per interpreter from 3.12 (internal/pycore_obmalloc.h) --- */
#if PY_VERSION_HEX >= 0x030D0000
    NONE(interp_obmalloc);
    OFF(interp_obmalloc_ptr, PyInterpreterState, obmalloc);
#elif PY_VERSION_HEX >= 0x030C0000
    OFF(interp_obmalloc, PyInterpreterState, obmalloc);
    NONE(interp_obmalloc_ptr);
#else
    NONE(interp_obmalloc);
    NONE(interp_obmalloc_ptr);
#endif
#if PY_VERSION_HEX >= 0x030C0000
    OFF(obmalloc_arenas, struct _obmalloc_state, mgmt.arenas);
    OFF(obmalloc_maxarenas, struct _obmalloc_state, mgmt.maxarenas);
#else
    NONE(obmalloc_arenas);
    NONE(obmalloc_maxarenas);
#endif

    /* --- str --- */
#if PY_MAJOR_VERSION >= 3
    {
        uint32_t kind, compact, ascii;
        int shift;
        if (sizeof(((PyASCIIObject *)0)->state) != 4) {
            fail("PyASCIIObject.state is not a 32-bit word");
        }
        STATE_BITS(kind, 7, kind);
        STATE_BITS(compact, 1, compact);
        STATE_BITS(ascii, 1, ascii);
        shift = lowest_bit(kind);
        if (shift < 0 || kind != (7u << shift)) {
            fail("state.kind is not 3 contiguous bits");
        }
        if (compact == 0 || (compact & (compact - 1)) != 0 || ascii == 0 ||
            (ascii & (ascii - 1)) != 0) {
            fail("state.compact / state.ascii are not single bits");
        }
        OFF(unicode_length, PyASCIIObject, length);
        OFF(unicode_state, PyASCIIObject, state);
        SIZE(unicode_ascii_size, PyASCIIObject);
        SIZE(unicode_compact_size, PyCompactUnicodeObject);
        put("unicode_kind_shift", shift, "lowest bit set by state.kind = 7 (measured)");
        put("unicode_compact_bit", lowest_bit(compact), "bit set by state.compact = 1 (measured)");
        put("unicode_ascii_bit", lowest_bit(ascii), "bit set by state.ascii = 1 (measured)");
        OFF(unicode_data_any, PyUnicodeObject, data.any);
    }
#else
    NONE(unicode_length);
    NONE(unicode_state);
    NONE(unicode_ascii_size);
    NONE(unicode_compact_size);
    NONE(unicode_kind_shift);
    NONE(unicode_compact_bit);
    NONE(unicode_ascii_bit);
    NONE(unicode_data_any);
#endif

    /* --- bytes / 2.7 str --- */
#if PY_MAJOR_VERSION >= 3
    OFF(bytes_ob_size, PyBytesObject, ob_base.ob_size);
    OFF(bytes_ob_sval, PyBytesObject, ob_sval);
#else
    OFF(bytes_ob_size, PyStringObject, ob_size);
    OFF(bytes_ob_sval, PyStringObject, ob_sval);
#endif

    /* --- dict --- */
    OFF(dict_ma_used, PyDictObject, ma_used);
#if PY_MAJOR_VERSION >= 3
    OFF(dict_ma_keys, PyDictObject, ma_keys);
    OFF(dict_ma_values, PyDictObject, ma_values);
    NONE(dict_ma_mask);
    NONE(dict_ma_table);
#else
    NONE(dict_ma_keys);
    NONE(dict_ma_values);
    OFF(dict_ma_mask, PyDictObject, ma_mask);
    OFF(dict_ma_table, PyDictObject, ma_table);
#endif
#if defined(MIRROR_DICT_COMMON)
    OFF(dictkeys_dk_size, struct mirror_dictkeysobject, dk_size);
    NONE(dictkeys_dk_log2_size);
    NONE(dictkeys_dk_log2_index_bytes);
    NONE(dictkeys_dk_kind);
    OFF(dictkeys_dk_nentries, struct mirror_dictkeysobject, dk_nentries);
    OFF(dictkeys_dk_indices, struct mirror_dictkeysobject, dk_indices);
    SIZE(dict_entry_size, mirror_PyDictKeyEntry);
    NONE(dict_unicode_entry_size);
    NONE(dictvalues_values);
    NONE(dictvalues_valid);
#elif PY_VERSION_HEX >= 0x030B0000
    NONE(dictkeys_dk_size);
    OFF(dictkeys_dk_log2_size, struct _dictkeysobject, dk_log2_size);
    OFF(dictkeys_dk_log2_index_bytes, struct _dictkeysobject, dk_log2_index_bytes);
    OFF(dictkeys_dk_kind, struct _dictkeysobject, dk_kind);
    OFF(dictkeys_dk_nentries, struct _dictkeysobject, dk_nentries);
    OFF(dictkeys_dk_indices, struct _dictkeysobject, dk_indices);
    SIZE(dict_entry_size, PyDictKeyEntry);
    SIZE(dict_unicode_entry_size, PyDictUnicodeEntry);
    OFF(dictvalues_values, PyDictValues, values);
#if PY_VERSION_HEX >= 0x030D0000
    OFF(dictvalues_valid, PyDictValues, valid);
#else
    NONE(dictvalues_valid);
#endif
#else /* 2.7 */
    NONE(dictkeys_dk_size);
    NONE(dictkeys_dk_log2_size);
    NONE(dictkeys_dk_log2_index_bytes);
    NONE(dictkeys_dk_kind);
    NONE(dictkeys_dk_nentries);
    NONE(dictkeys_dk_indices);
    SIZE(dict_entry_size, PyDictEntry);
    NONE(dict_unicode_entry_size);
    NONE(dictvalues_values);
    NONE(dictvalues_valid);
#endif
#ifdef MIRROR_MODULE
    OFF(module_md_dict, mirror_PyModuleObject, md_dict);
#else
    OFF(module_md_dict, PyModuleObject, md_dict);
#endif

    /* --- runtime and interpreter --- */
#if PY_VERSION_HEX >= 0x03070000
    OFF(runtime_interpreters_head, _PyRuntimeState, interpreters.head);
#if PY_VERSION_HEX < 0x030C0000
    OFF(runtime_gil, _PyRuntimeState, ceval.gil);
    NONE(interp_ceval_gil);
#else
    NONE(runtime_gil);
    OFF(interp_ceval_gil, PyInterpreterState, ceval.gil);
#endif
    OFF(gil_locked, struct _gil_runtime_state, locked);
    OFF(gil_last_holder, struct _gil_runtime_state, last_holder);
#else
    /* 2.7 / 3.6: no _PyRuntimeState (the interpreter list head is a static in
     * Python/pystate.c) and the GIL is static state in Python/ceval_gil.h. */
    NONE(runtime_interpreters_head);
    NONE(runtime_gil);
    NONE(interp_ceval_gil);
    NONE(gil_locked);
    NONE(gil_last_holder);
#endif
    OFF(interp_next, PyInterpreterState, next);
#if PY_VERSION_HEX >= 0x030B0000 /* 3.11 already moved the list into `struct pythreads` */
    OFF(interp_threads_head, PyInterpreterState, threads.head);
#else
    OFF(interp_threads_head, PyInterpreterState, tstate_head);
#endif
#if PY_VERSION_HEX >= 0x030C0000
    OFF(interp_modules, PyInterpreterState, imports.modules);
#else
    OFF(interp_modules, PyInterpreterState, modules);
#endif

    /* --- thread state --- */
    SIZE(ts_size, PyThreadState);
    OFF(ts_next, PyThreadState, next);
    OFF(ts_interp, PyThreadState, interp);
    OFF(ts_thread_id, PyThreadState, thread_id);
#if PY_VERSION_HEX >= 0x030B0000
    OFF(ts_native_thread_id, PyThreadState, native_thread_id);
    NONE(ts_frame);
#if PY_VERSION_HEX < 0x030D0000
    OFF(ts_cframe, PyThreadState, cframe);
    OFF(cframe_current_frame, _PyCFrame, current_frame);
    NONE(ts_current_frame);
#else
    NONE(ts_cframe);
    NONE(cframe_current_frame);
    OFF(ts_current_frame, PyThreadState, current_frame);
#endif
#if PY_VERSION_HEX >= 0x030F0000
    OFF(ts_base_frame, PyThreadState, base_frame);
#else
    NONE(ts_base_frame);
#endif
    OFF(ts_datastack_chunk, PyThreadState, datastack_chunk);
    OFF(chunk_previous, _PyStackChunk, previous);
    OFF(chunk_size, _PyStackChunk, size);
    OFF(chunk_data, _PyStackChunk, data);
#else
    NONE(ts_native_thread_id);
    OFF(ts_frame, PyThreadState, frame);
    NONE(ts_cframe);
    NONE(cframe_current_frame);
    NONE(ts_current_frame);
    NONE(ts_base_frame);
    NONE(ts_datastack_chunk);
    NONE(chunk_previous);
    NONE(chunk_size);
    NONE(chunk_data);
#endif

    /* --- frame object (<= 3.10) --- */
#if PY_VERSION_HEX < 0x030B0000
    SIZE(frame_size, PyFrameObject);
    OFF(frame_back, PyFrameObject, f_back);
    OFF(frame_code, PyFrameObject, f_code);
    OFF(frame_lasti, PyFrameObject, f_lasti);
    OFF(frame_lineno, PyFrameObject, f_lineno);
#else
    NONE(frame_size);
    NONE(frame_back);
    NONE(frame_code);
    NONE(frame_lasti);
    NONE(frame_lineno);
#endif

    /* --- interpreter frame (3.11+) --- */
#if PY_VERSION_HEX >= 0x030B0000
    OFF(iframe_size, _PyInterpreterFrame, localsplus);
    OFF(iframe_previous, _PyInterpreterFrame, previous);
#if PY_VERSION_HEX >= 0x030D0000
    OFF(iframe_code, _PyInterpreterFrame, f_executable);
    OFF(iframe_instr, _PyInterpreterFrame, instr_ptr);
#else
    OFF(iframe_code, _PyInterpreterFrame, f_code);
    OFF(iframe_instr, _PyInterpreterFrame, prev_instr);
#endif
    OFF(iframe_owner, _PyInterpreterFrame, owner);
    OFF(iframe_localsplus, _PyInterpreterFrame, localsplus);
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030F0000
    /* 3.15 dropped it: entry frames are FRAME_OWNED_BY_INTERPRETER. An enum member, so no
     * #ifdef can ask whether the header has it. */
    CONST(frame_owned_by_cstack, FRAME_OWNED_BY_CSTACK);
#else
    NONE(frame_owned_by_cstack);
#endif
#if PY_VERSION_HEX >= 0x030E0000
    CONST(frame_owned_by_interpreter, FRAME_OWNED_BY_INTERPRETER);
#else
    NONE(frame_owned_by_interpreter);
#endif
#else
    NONE(iframe_size);
    NONE(iframe_previous);
    NONE(iframe_code);
    NONE(iframe_instr);
    NONE(iframe_owner);
    NONE(iframe_localsplus);
    NONE(frame_owned_by_cstack);
    NONE(frame_owned_by_interpreter);
#endif
#if PY_VERSION_HEX >= 0x030E0000
    if (sizeof(_PyStackRef) != sizeof(void *)) {
        fail("_PyStackRef is not pointer-sized");
    }
    CONST(stackref_tag_bits, Py_TAG_BITS);
#else
    put("stackref_tag_bits", 0, "0 (no tagged _PyStackRef before 3.14)");
#endif

    /* --- code object --- */
#if PY_VERSION_HEX >= 0x030B0000
    OFF(code_size, PyCodeObject, co_code_adaptive);
#else
    SIZE(code_size, PyCodeObject);
#endif
    OFF(code_filename, PyCodeObject, co_filename);
    OFF(code_name, PyCodeObject, co_name);
#if PY_VERSION_HEX >= 0x030B0000
    OFF(code_qualname, PyCodeObject, co_qualname);
#else
    NONE(code_qualname);
#endif
    OFF(code_firstlineno, PyCodeObject, co_firstlineno);
#if PY_VERSION_HEX >= 0x030A0000
    OFF(code_linetable, PyCodeObject, co_linetable);
#else
    OFF(code_linetable, PyCodeObject, co_lnotab);
#endif
#if PY_VERSION_HEX >= 0x030B0000
    OFF(code_code_adaptive, PyCodeObject, co_code_adaptive);
#else
    NONE(code_code_adaptive);
#endif

    /* --- _Py_DebugOffsets (3.13+): where the published copy of each field pyprobe reads is.
     * The cookie, version and free_threaded lead every version's struct (pyprobe reads the
     * version there before it knows which table applies); the rest moves between versions. */
#if PY_VERSION_HEX >= 0x030D0000
    if (offsetof(_Py_DebugOffsets, version) != 8 || offsetof(_Py_DebugOffsets, free_threaded) != 16) {
        fail("_Py_DebugOffsets does not start with cookie, version, free_threaded");
    }
    DBG(runtime_state.interpreters_head);
    DBG(interpreter_state.next);
    DBG(interpreter_state.threads_head);
    DBG(interpreter_state.imports_modules);
    DBG(interpreter_state.ceval_gil);
    DBG(interpreter_state.gc);
    DBG(interpreter_state.gil_runtime_state);
    DBG(interpreter_state.gil_runtime_state_locked);
    DBG(interpreter_state.gil_runtime_state_holder);
    DBG(thread_state.size);
    DBG(thread_state.next);
    DBG(thread_state.interp);
    DBG(thread_state.current_frame);
#if PY_VERSION_HEX >= 0x030F0000
    DBG(thread_state.base_frame);
#endif
    DBG(thread_state.thread_id);
    DBG(thread_state.native_thread_id);
    DBG(thread_state.datastack_chunk);
    DBG(interpreter_frame.previous);
    DBG(interpreter_frame.executable);
    DBG(interpreter_frame.instr_ptr);
    DBG(interpreter_frame.localsplus);
    DBG(interpreter_frame.owner);
    DBG(code_object.filename);
    DBG(code_object.name);
    DBG(code_object.qualname);
    DBG(code_object.linetable);
    DBG(code_object.firstlineno);
    DBG(code_object.co_code_adaptive);
    DBG(pyobject.ob_type);
    DBG(type_object.tp_name);
    DBG(type_object.tp_flags);
#if PY_VERSION_HEX >= 0x030F0000
    DBG(type_object.tp_basicsize);
    DBG(type_object.tp_dictoffset);
    DBG(heap_type_object.ht_cached_keys);
#endif
    DBG(dict_object.ma_keys);
    DBG(dict_object.ma_values);
    DBG(bytes_object.ob_size);
    DBG(bytes_object.ob_sval);
    DBG(unicode_object.state);
    DBG(unicode_object.length);
    DBG(unicode_object.asciiobject_size);
#if PY_VERSION_HEX >= 0x030F0000
    DBG(unicode_object.compactunicodeobject_size);
#endif
#endif
    return 0;
}
