// SPDX-License-Identifier: GPL-2.0
/*
 * icount: a QEMU TCG plugin counting the guest instructions executed between
 * two markers, for `./dev bench` (instructions per packet are exact and
 * repeatable where packets per second under TCG are neither).
 *
 *   qemu-system-x86_64 -plugin file=icount.so,out=PATH[,profile=on] ...
 *
 * The guest marks a window with a multi-byte NOP, `nopl 0x72746e00+OP(%rax)`
 * (bytes 0f 1f 80 OP 6e 74 72, "rtn"+OP), OP 1 = START, OP 2 = STOP
 * (tests/src/icount.rs). Each STOP appends to PATH, flushed:
 *
 *   mark SEQ total TOTAL kernel KERNEL
 *
 * SEQ counts STOPs from 1; TOTAL is every instruction all vCPUs executed
 * since the START, KERNEL the part in TBs at kernel addresses. Each TB adds
 * its length when it starts executing, inline (no helper call, so counting
 * costs little and does not change what the guest does): a TB left early
 * by an exception is counted whole, and the TBs holding the markers
 * themselves count to the STOP side, a few instructions either way.
 *
 * profile=on also counts, between START and STOP, the instructions of each
 * kernel TB by start address, and after the mark line writes one
 * `prof SEQ PC COUNT` line (PC in hex) for every TB that ran, then resets
 * them. A TB translated again with another length gets a line of its own
 * for the same PC: readers sum by PC (or by symbol).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Our own declarations of the few parts of QEMU's documented plugin API
 * (include/qemu/qemu-plugin.h, plugin API version 4, QEMU 9.2 to 10.0) this
 * plugin uses, so that it builds with plain gcc, without QEMU's source or
 * glib. Checked against the symbols `nm -D /usr/bin/qemu-system-x86_64 |
 * grep qemu_plugin` exports. The enums list only the values used; the
 * values are QEMU's.
 */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* only passed to us, never read */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_plugin_scoreboard;
typedef struct {
	struct qemu_plugin_scoreboard *score;
	size_t offset;
} qemu_plugin_u64;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
					  enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
						       qemu_plugin_u64 entry, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
					    enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
size_t qemu_plugin_insn_data(const struct qemu_plugin_insn *insn, void *dest, size_t len);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
struct qemu_plugin_scoreboard *qemu_plugin_scoreboard_new(size_t element_size);
uint64_t qemu_plugin_u64_sum(qemu_plugin_u64 entry);

#define EXPORT __attribute__((visibility("default")))

/* Version 3 changed qemu_plugin_insn_data() to the form declared above. */
EXPORT int qemu_plugin_version = 4;

#define KERNEL_BASE 0xffff800000000000ull
enum { OP_START = 1, OP_STOP = 2 };

/* One per vCPU: vCPUs run in threads of their own, unsynchronised adds
 * to a shared counter would lose counts. */
struct counts {
	uint64_t user, kernel;
};
static qemu_plugin_u64 user_insns, kernel_insns;

/* A kernel TB's count for the profile. Never freed: translated code keeps
 * the pointer for as long as QEMU keeps the TB. */
struct tb_count {
	uint64_t pc, n_insns, count;
	struct tb_count *next;
};
#define BUCKETS (1u << 16)
static struct tb_count *table[BUCKETS];
static int profile, profiling;

/* Marker callbacks and translations come from any vCPU thread. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *out;
static uint64_t start_total, start_kernel;
static unsigned int seq;

static void write_profile(void)
{
	for (unsigned int b = 0; b < BUCKETS; b++) {
		for (struct tb_count *c = table[b]; c; c = c->next) {
			uint64_t n = __atomic_exchange_n(&c->count, 0, __ATOMIC_RELAXED);
			if (n)
				fprintf(out, "prof %u %" PRIx64 " %" PRIu64 "\n", seq, c->pc, n);
		}
	}
}

static void on_marker(unsigned int vcpu_index, void *op)
{
	(void)vcpu_index;
	/* Another vCPU may be running: its counter is read as it stands. */
	uint64_t kernel = qemu_plugin_u64_sum(kernel_insns);
	uint64_t total = kernel + qemu_plugin_u64_sum(user_insns);

	pthread_mutex_lock(&lock);
	if ((uintptr_t)op == OP_START) {
		start_total = total;
		start_kernel = kernel;
		__atomic_store_n(&profiling, profile, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&profiling, 0, __ATOMIC_RELAXED);
		seq++;
		fprintf(out, "mark %u total %" PRIu64 " kernel %" PRIu64 "\n", seq, total - start_total,
			kernel - start_kernel);
		if (profile)
			write_profile();
		/* The host reads the file while the guest still runs. */
		fflush(out);
	}
	pthread_mutex_unlock(&lock);
}

static void on_kernel_tb(unsigned int vcpu_index, void *data)
{
	struct tb_count *c = data;

	(void)vcpu_index;
	if (__atomic_load_n(&profiling, __ATOMIC_RELAXED))
		__atomic_fetch_add(&c->count, c->n_insns, __ATOMIC_RELAXED);
}

/* The same PC translates again after a flush: reuse its counter. */
static struct tb_count *tb_count(uint64_t pc, uint64_t n_insns)
{
	unsigned int b = (unsigned int)((pc * 0x9e3779b97f4a7c15ull) >> 48) & (BUCKETS - 1);
	struct tb_count *c;

	pthread_mutex_lock(&lock);
	for (c = table[b]; c; c = c->next)
		if (c->pc == pc && c->n_insns == n_insns)
			break;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			abort();
		c->pc = pc;
		c->n_insns = n_insns;
		c->next = table[b];
		table[b] = c;
	}
	pthread_mutex_unlock(&lock);
	return c;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	static const uint8_t head[3] = { 0x0f, 0x1f, 0x80 }, tail[3] = { 0x6e, 0x74, 0x72 };
	size_t n = qemu_plugin_tb_n_insns(tb);
	uint64_t pc = qemu_plugin_tb_vaddr(tb);
	int kernel = pc >= KERNEL_BASE;

	(void)id;
	qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_ADD_U64,
							   kernel ? kernel_insns : user_insns, n);
	if (kernel && profile)
		qemu_plugin_register_vcpu_tb_exec_cb(tb, on_kernel_tb, QEMU_PLUGIN_CB_NO_REGS, tb_count(pc, n));
	for (size_t i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		uint8_t b[7];

		if (qemu_plugin_insn_size(insn) != sizeof(b) || qemu_plugin_insn_data(insn, b, sizeof(b)) != sizeof(b))
			continue;
		if (memcmp(b, head, 3) || memcmp(b + 4, tail, 3) || (b[3] != OP_START && b[3] != OP_STOP))
			continue;
		qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)b[3]);
	}
}

static void on_qemu_exit(qemu_plugin_id_t id, void *data)
{
	(void)id;
	(void)data;
	fclose(out);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	const char *path = NULL;
	struct qemu_plugin_scoreboard *score;

	(void)info;
	for (int i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4))
			path = argv[i] + 4;
		else if (!strcmp(argv[i], "profile=on"))
			profile = 1;
		else if (strcmp(argv[i], "profile=off")) {
			fprintf(stderr, "icount: unknown argument '%s' (out=PATH, profile=on|off)\n", argv[i]);
			return -1;
		}
	}
	if (!path) {
		fprintf(stderr, "icount: out=PATH is required\n");
		return -1;
	}
	out = fopen(path, "w");
	if (!out) {
		perror(path);
		return -1;
	}
	score = qemu_plugin_scoreboard_new(sizeof(struct counts));
	user_insns = (qemu_plugin_u64){ score, offsetof(struct counts, user) };
	kernel_insns = (qemu_plugin_u64){ score, offsetof(struct counts, kernel) };
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
	return 0;
}
