/*
 * icount_plugin.c - QEMU TCG plugin: exact executed-instruction counts between marks.
 *
 * Build (host gcc, not the Arm cross compiler):
 *     gcc -std=c99 -O2 -shared -fPIC -fvisibility=hidden icount_plugin.c -o libicount.so
 * Run:
 *     qemu-system-arm ... -plugin ./libicount.so,out=marks.txt
 *
 * Every guest instruction adds one to a counter (an inline add before the instruction, so a
 * count is exact whatever the translation-block boundaries are).  A mark is the instruction
 *     ldrt rT, [sp, #kind]            (Thumb-2 T1 encoding 0xF85D 0xtEkk)
 * which compilers never emit (firmware/bsp/include/bsp_mark.h wraps it).  Each time a mark
 * executes the plugin appends "kind count" to the out file, where count is the number of
 * instructions executed before that mark; the instructions strictly between two marks are
 * count2 - count1 - 1.  At exit it appends "total count".
 *
 * Option profile=PATH (for kernel work): also count every instruction address below 4 MB and
 * write "address count" lines to PATH at exit (map them to functions with the ELF's symbols).
 *
 * Option entries=PATH (for checking which kernel runs): PATH lists code addresses, one hex number
 * a line (function entry points, Thumb bit ignored); each time one executes the plugin appends
 * "e address count" to the out file, in order with the marks, so each entry falls in its layer.
 *
 * Debian's QEMU 7.2 ships the plugin API but no qemu-plugin.h, so the few functions used here
 * are declared below, as in QEMU 7.2's include/qemu/qemu-plugin.h (plugin API version 1).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------- QEMU plugin API (version 1) */
#define ICP_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;

typedef struct
{
    const char *target_name;
    struct
    {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union
    {
        struct
        {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;

struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags
{
    QEMU_PLUGIN_CB_NO_REGS,
    QEMU_PLUGIN_CB_R_REGS,
    QEMU_PLUGIN_CB_RW_REGS
};

enum qemu_plugin_op
{
    QEMU_PLUGIN_INLINE_ADD_U64
};

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                enum qemu_plugin_op op,
                                                void *ptr,
                                                uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags,
                                            void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

ICP_EXPORT int qemu_plugin_version = 1;
ICP_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

/* ------------------------------------------------------------------ plugin */
#define ICP_MARK_HW0      0xF85Du /* ldrt, base register sp */
#define ICP_MARK_HW1_MASK 0x0F00u
#define ICP_MARK_HW1_BITS 0x0E00u

#define ICP_PROFILE_LIMIT 0x400000u /* code addresses profiled: [0, 4 MB), halfword steps */

static uint64_t icp_count; /* one vCPU: instructions executed so far */
static FILE *icp_out;
static uint64_t *icp_profile; /* NULL unless profile= was given */
static const char *icp_profile_path;

#define ICP_MAX_ENTRIES 1024
static uint64_t icp_entries[ICP_MAX_ENTRIES]; /* sorted entry addresses to log */
static size_t icp_n_entries;

static void icp_on_mark(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    /* The inline add of the mark itself may run before or after this callback; subtracting
     * it here would depend on QEMU's order, so counts are taken as they are and only their
     * differences are used (see the header comment). */
    fprintf(icp_out, "%u %" PRIu64 "\n", (unsigned)(uintptr_t)userdata, icp_count);
    fflush(icp_out);
}

static void icp_on_entry(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    fprintf(icp_out, "e %" PRIx64 " %" PRIu64 "\n", (uint64_t)(uintptr_t)userdata, icp_count);
    fflush(icp_out);
}

static bool icp_is_entry(uint64_t pc)
{
    size_t lo = 0;
    size_t hi = icp_n_entries;
    while (lo < hi)
    {
        const size_t mid = lo + (hi - lo) / 2;
        if (icp_entries[mid] == pc)
        {
            return true;
        }
        if (icp_entries[mid] < pc)
        {
            lo = mid + 1;
        }
        else
        {
            hi = mid;
        }
    }
    return false;
}

static int icp_cmp_u64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a;
    const uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Reads the entries= file: hex addresses, one a line; returns 0, or -1 when it cannot. */
static int icp_read_entries(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
    {
        return -1;
    }
    unsigned long long a = 0;
    while (icp_n_entries < ICP_MAX_ENTRIES && fscanf(f, "%llx", &a) == 1)
    {
        icp_entries[icp_n_entries++] = (uint64_t)a & ~(uint64_t)1;
    }
    fclose(f);
    qsort(icp_entries, icp_n_entries, sizeof icp_entries[0], icp_cmp_u64);
    return 0;
}

/* The mark's kind (0..255), or -1 when insn is not a mark.  QEMU 7.2 may report more bytes
 * than the instruction has (the translator peeks at the next halfword): only the first four
 * are the instruction's. */
static int icp_mark_kind(const struct qemu_plugin_insn *insn)
{
    uint16_t hw[2];
    if (qemu_plugin_insn_size(insn) < 4)
    {
        return -1;
    }
    memcpy(hw, qemu_plugin_insn_data(insn), sizeof hw);
    if (hw[0] != ICP_MARK_HW0 || (hw[1] & ICP_MARK_HW1_MASK) != ICP_MARK_HW1_BITS)
    {
        return -1;
    }
    return (int)(hw[1] & 0xFFu);
}

static void icp_on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    const size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; ++i)
    {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &icp_count, 1);
        const uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (icp_profile != NULL && pc < ICP_PROFILE_LIMIT)
        {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &icp_profile[pc / 2], 1);
        }
        if (icp_n_entries > 0 && icp_is_entry(pc))
        {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, icp_on_entry, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)pc);
        }
        const int kind = icp_mark_kind(insn);
        if (kind >= 0)
        {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, icp_on_mark, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)kind);
        }
    }
}

static void icp_on_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    fprintf(icp_out, "total %" PRIu64 "\n", icp_count);
    fflush(icp_out);
    if (icp_out != stderr)
    {
        fclose(icp_out);
    }
    FILE *prof = icp_profile != NULL ? fopen(icp_profile_path, "w") : NULL;
    for (uint32_t i = 0; prof != NULL && i < ICP_PROFILE_LIMIT / 2; ++i)
    {
        if (icp_profile[i] != 0)
        {
            fprintf(prof, "%" PRIx32 " %" PRIu64 "\n", 2 * i, icp_profile[i]);
        }
    }
    if (prof != NULL)
    {
        fclose(prof);
    }
}

ICP_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    const char *path = NULL;
    if (!info->system_emulation || (info->system.smp_vcpus > 1))
    {
        qemu_plugin_outs("icount plugin: needs system emulation with one vCPU\n");
        return -1;
    }
    for (int i = 0; i < argc; ++i)
    {
        if (strncmp(argv[i], "out=", 4) == 0)
        {
            path = argv[i] + 4;
        }
        else if (strncmp(argv[i], "profile=", 8) == 0)
        {
            icp_profile_path = argv[i] + 8;
            icp_profile = calloc(ICP_PROFILE_LIMIT / 2, sizeof(uint64_t));
        }
        else if (strncmp(argv[i], "entries=", 8) == 0 && icp_read_entries(argv[i] + 8) != 0)
        {
            qemu_plugin_outs("icount plugin: cannot read the entries= file\n");
            return -1;
        }
    }
    icp_out = path != NULL ? fopen(path, "w") : stderr;
    if (icp_out == NULL)
    {
        qemu_plugin_outs("icount plugin: cannot open the out= file\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, icp_on_translate);
    qemu_plugin_register_atexit_cb(id, icp_on_exit, NULL);
    return 0;
}
