/*
 * smolvm-agent: PID 1 of a smolvm microVM, or a protocol server on stdio for native tests.
 *
 *   smolvm-agent                  as PID 1: mount, set up the workload root, find the channel, serve
 *   smolvm-agent --stdio [-v]     test mode: serve on fd 0 (in) / fd 1 (out), no PID 1 setup
 *   smolvm-agent --fd N [-v]      test mode: serve on fd N
 *   ... --root DIR                test mode: file operations resolve inside DIR (default /)
 *   ... --no-tmpfile              test mode: FS_WRITE never uses O_TMPFILE
 *   smolvm-agent --version
 *   smolvm-agent --print-config [--cmdline FILE] [smolvm.KEY=VALUE...]
 *                                 test mode: parse options as PID 1 would (FILE instead of /proc/cmdline,
 *                                 the tokens as PID 1's arguments), print the result, exit (2 on error)
 *
 * Options come from the kernel command line and, in VM mode, from PID 1's own arguments: under libkrun
 * with libkrunfw's kernel the command line is libkrun's, and the engine passes the same tokens as the
 * arguments libkrun's init hands to the agent (krun_set_exec). Arguments are applied after the command
 * line: a key given there replaces the command line's value, and smolvm.volume= arguments replace the
 * command line's volume list. Every option is optional:
 *   smolvm.root=/dev/vda          read-only base file system (ext4, or smolvm.rootfstype=) of the workload;
 *                                 absent or "none": workloads run in the initramfs itself
 *   smolvm.rootrw=tmpfs           where the overlay's upper layer lives: tmpfs (default), or a block device
 *                                 holding an ext4 file system (a machine's own writable disk)
 *   smolvm.hostname=NAME          default "smolvm"
 *   smolvm.channel=/dev/PATH      the channel device; default: the virtio port named "smolvm.agent"
 *   smolvm.halt=reboot|poweroff   how to end the VM: reboot(RB_AUTOBOOT) (default; QEMU with -no-reboot
 *                                 and the kernel's reboot=t exits) or reboot(RB_POWER_OFF)
 *   smolvm.verbose=1              log every frame on the console
 *   smolvm.volume=TAG:PATH[:ro][:virtiofs]
 *                                 (repeatable, at most MAX_VOLUMES) mount the host directory shared under
 *                                 TAG at the absolute PATH inside the workload root, after the root's own
 *                                 mounts: 9p over virtio (QEMU) by default, virtiofs (libkrun) with the
 *                                 suffix; read-only with :ro. The mount point is created without following
 *                                 any symlink of the image.
 */
#define _GNU_SOURCE
#include "fs.h"
#include "session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* <linux/vm_sockets.h> is not in every libc's include path (musl-gcc's is libc only). */
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
struct smol_sockaddr_vm {
    sa_family_t svm_family;
    unsigned short svm_reserved1;
    unsigned int svm_port;
    unsigned int svm_cid;
    unsigned char svm_zero[sizeof(struct sockaddr) - sizeof(sa_family_t) - sizeof(unsigned short) -
                           2 * sizeof(unsigned int)];
};
#define SMOL_VMADDR_CID_HOST 2u

#define SMOLVM_DIR "/smolvm"
#define BASE_DIR "/smolvm/base"
#define RW_DIR "/smolvm/rw"
#define ROOT_DIR "/smolvm/root"
#define CHANNEL_NAME "smolvm.agent"
#define DEVICE_WAIT_MS 5000
#define HOST_CONNECT_WAIT_MS 60000
#define VSOCK_CONNECT_WAIT_MS 5000

struct vm_options {
    char root[256];
    char rootfstype[32];
    char rootrw[256];
    char hostname[65];
    char channel[256];
    unsigned vsock_port; /* smolvm.vsock=PORT: connect to the host over vsock instead; 0 = off */
    int poweroff; /* RB_POWER_OFF instead of RB_AUTOBOOT */
    int verbose;
};

static struct vm_options opts;

/*
 * Shared-root mode: `/` is a virtio-fs share of a host directory (libkrun's krun_set_root, booted by
 * libkrunfw's kernel and libkrun's init) rather than our initramfs. That directory belongs to the host
 * and is shared by every VM, so nothing may be created in it: the agent mounts a tmpfs on /smolvm (a
 * directory the host prepared) and only uses mount points that already exist (/dev, /proc, /sys, /tmp,
 * /run); mkdir_p refuses to create anything on the share.
 */
static int shared_root;
/* virtio-fs reports FUSE's magic number in statfs (libkrun's init checks the same value). */
#define SMOL_FUSE_SUPER_MAGIC 0x65735546L

/* --print-config: vm_fail prints and exits instead of halting (it must never kill(-1) on a host). */
static int dry_run;

/* smolvm.* tokens PID 1 received as arguments (pointers into argv). */
#define MAX_ARG_OPTIONS 64
static const char *arg_options[MAX_ARG_OPTIONS];
static int narg_options;

/* ---- volumes (smolvm.volume=) ---- */

#define MAX_VOLUMES 32
#define VOLUME_TAG_MAX 64
#define VOLUME_PATH_MAX 256

struct volume {
    char tag[VOLUME_TAG_MAX];
    char path[VOLUME_PATH_MAX];
    int readonly;
    int virtiofs;
};

static struct volume volumes[MAX_VOLUMES];
static int nvolumes;
/* Where each volume is mounted in the agent's tree (for the unmounts at halt). */
static char volume_targets[MAX_VOLUMES][sizeof "/smolvm/root" + VOLUME_PATH_MAX];

static void say(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    dprintf(2, "smolvm-agent: %s\n", buf);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- VM teardown ---- */

#define MAX_MOUNTS (32 + MAX_VOLUMES)
static const char *mounted[MAX_MOUNTS];
static int nmounted;

/*
 * libkrun's convention for the VM's exit status when `/` is its virtio-fs root: an ioctl (0x7602) on
 * the root directory carrying the code, which libkrun's init uses before it reboots. Best effort: an
 * older libkrun answers ENOTTY and the VM ends with libkrun's default status.
 */
#define KRUN_EXIT_CODE_IOCTL 0x7602
static void report_exit_code(int code) {
    if (!shared_root) return;
    int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ioctl(fd, KRUN_EXIT_CODE_IOCTL, code);
    close(fd);
}

static _Noreturn void vm_halt(int failed, const char *why) {
    if (dry_run) {
        say("%s", why);
        exit(failed ? 2 : 0);
    }
    say("%s: %s; powering off", failed ? "FAILED" : "stopping", why);
    /* PID 1 killing -1 reaches every other process. */
    kill(-1, SIGKILL);
    for (int i = 0; i < 100; i++) {
        pid_t p = waitpid(-1, NULL, WNOHANG);
        if (p < 0 && errno == ECHILD) break;
        if (p <= 0) sleep_ms(10);
    }
    sync();
    while (nmounted > 0) {
        const char *m = mounted[--nmounted];
        if (umount2(m, 0) < 0) umount2(m, MNT_DETACH);
    }
    sync();
    report_exit_code(failed ? 1 : 0);
    reboot(opts.poweroff ? RB_POWER_OFF : RB_AUTOBOOT);
    say("reboot: %s", strerror(errno));
    reboot(opts.poweroff ? RB_AUTOBOOT : RB_POWER_OFF);
    say("reboot: %s; exiting (the kernel panics and, with panic=-1, resets)", strerror(errno));
    _exit(1);
}

static _Noreturn void vm_fail(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    vm_halt(1, buf);
}

/* ---- VM setup ---- */

/* Whether the directory holding `path` is on the virtio-fs root share (shared-root mode only). */
static int parent_on_share(char *path) {
    if (!shared_root) return 0;
    char *slash = strrchr(path, '/');
    if (!slash) return 0;
    char keep = slash[1];
    slash[1] = 0; /* "/a/b" -> "/a/" */
    struct statfs sf;
    int on = statfs(path, &sf) == 0 && (long)sf.f_type == SMOL_FUSE_SUPER_MAGIC;
    slash[1] = keep;
    return on;
}

/* mkdir of one missing component; refused on the host's shared root directory. */
static int mkdir_one(char *path, mode_t mode) {
    struct stat st;
    if (shared_root && stat(path, &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    if (parent_on_share(path))
        vm_fail("%s is missing from the shared root directory, and the agent never writes there", path);
    return mkdir(path, mode);
}

static void mkdir_p(const char *path, mode_t mode) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir_one(tmp, mode);
            *p = '/';
        }
    }
    if (mkdir_one(tmp, mode) < 0 && errno != EEXIST) vm_fail("mkdir %s: %s", path, strerror(errno));
}

static int is_system_mount(const char *target) {
    static const char *const sys[] = {"/dev", "/proc", "/sys", "/dev/pts", "/dev/shm"};
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
        if (strcmp(target, sys[i]) == 0) return 1;
    return 0;
}

static void do_mount(const char *src, const char *target, const char *type, unsigned long flags,
                     const char *data) {
    mkdir_p(target, 0755);
    if (mount(src, target, type, flags, data) < 0) {
        /* Already mounted: the kernel's devtmpfs automount, or libkrun's init, which mounts /dev, /proc,
           /sys, /dev/pts and /dev/shm before it starts the agent. */
        if (errno == EBUSY && is_system_mount(target)) return;
        vm_fail("mount %s (%s) on %s: %s", src, type ? type : "bind", target, strerror(errno));
    }
    if (nmounted < MAX_MOUNTS) mounted[nmounted++] = target;
}

/*
 * A mount point inside the workload root must be a real directory of that root. An image may ship a file
 * there, or a symlink (`/tmp -> /var/tmp`, or hostile: `/dev -> /`) that mount(2) would follow in the
 * agent's own tree, outside the root. Replace anything else with an empty directory (the overlay records
 * a whiteout; the image's disk is not touched).
 */
static void root_mountpoint(const char *target, mode_t mode) {
    struct stat st;
    if (lstat(target, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return;
        if (unlink(target) < 0) vm_fail("replace %s with a directory: %s", target, strerror(errno));
    }
    if (mkdir(target, mode) < 0 && errno != EEXIST) vm_fail("mkdir %s: %s", target, strerror(errno));
    if (chmod(target, mode) < 0) vm_fail("chmod %s: %s", target, strerror(errno));
}

static void console_stdio(void) {
    int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return;
    for (int i = 0; i < 3; i++) {
        if (fcntl(i, F_GETFD) < 0) dup2(fd, i);
    }
    close(fd);
}

static void set_opt(char *dst, size_t cap, const char *val) { snprintf(dst, cap, "%s", val); }

/*
 * smolvm.volume=TAG:PATH[:ro|:rw][:virtiofs|:9p]. A malformed one stops the VM with a console message:
 * running the workload without a volume it asked for would be worse than not running it.
 */
static void parse_volume(const char *val) {
    if (nvolumes >= MAX_VOLUMES) vm_fail("smolvm.volume=%s: more than %d volumes", val, MAX_VOLUMES);
    if (strlen(val) >= VOLUME_TAG_MAX + VOLUME_PATH_MAX + 16) vm_fail("smolvm.volume=...: too long");
    char buf[VOLUME_TAG_MAX + VOLUME_PATH_MAX + 16];
    snprintf(buf, sizeof buf, "%s", val);
    struct volume *v = &volumes[nvolumes];
    memset(v, 0, sizeof *v);
    char *save = NULL;
    char *tag = strtok_r(buf, ":", &save);
    char *path = tag ? strtok_r(NULL, ":", &save) : NULL;
    if (!tag || !path) vm_fail("smolvm.volume=%s: expected TAG:PATH[:ro][:virtiofs]", val);
    if (strlen(tag) >= VOLUME_TAG_MAX) vm_fail("smolvm.volume=%s: the tag is too long", val);
    for (const char *c = tag; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '_' || *c == '.'))
            vm_fail("smolvm.volume=%s: the tag may hold only letters, digits, '-', '_' and '.'", val);
    }
    if (path[0] != '/') vm_fail("smolvm.volume=%s: the path must be absolute", val);
    if (strlen(path) >= VOLUME_PATH_MAX) vm_fail("smolvm.volume=%s: the path is too long", val);
    /* No ".." component (it could climb out of the root); "." and empty components are skipped later. */
    for (const char *c = path; *c; c++) {
        if (c[0] == '/' && c[1] == '.' && c[2] == '.' && (c[3] == '/' || c[3] == 0))
            vm_fail("smolvm.volume=%s: the path must not contain \"..\"", val);
    }
    int real = 0;
    for (const char *c = path; *c; c++) {
        if (*c != '/' && !(*c == '.' && (c[-1] == '/') && (c[1] == '/' || c[1] == 0))) real = 1;
    }
    if (!real) vm_fail("smolvm.volume=%s: cannot mount over the root directory", val);
    for (char *o = strtok_r(NULL, ":", &save); o; o = strtok_r(NULL, ":", &save)) {
        if (strcmp(o, "ro") == 0) v->readonly = 1;
        else if (strcmp(o, "rw") == 0) v->readonly = 0;
        else if (strcmp(o, "virtiofs") == 0) v->virtiofs = 1;
        else if (strcmp(o, "9p") == 0) v->virtiofs = 0;
        else vm_fail("smolvm.volume=%s: unknown option \"%s\"", val, o);
    }
    snprintf(v->tag, sizeof v->tag, "%s", tag);
    snprintf(v->path, sizeof v->path, "%s", path);
    nvolumes++;
}

/*
 * Applies one smolvm.KEY[=VALUE] token (modified in place). `from_args`: the token came from PID 1's
 * arguments; the first smolvm.volume= there replaces the volumes the command line named.
 */
static void apply_option(char *tok, int from_args) {
    static int args_volumes;
    char *eq = strchr(tok, '=');
    const char *val = eq ? eq + 1 : "";
    if (eq) *eq = 0;
    const char *key = tok + 7;
    if (strcmp(key, "root") == 0) set_opt(opts.root, sizeof opts.root, val);
    else if (strcmp(key, "rootfstype") == 0) set_opt(opts.rootfstype, sizeof opts.rootfstype, val);
    else if (strcmp(key, "rootrw") == 0) set_opt(opts.rootrw, sizeof opts.rootrw, val);
    else if (strcmp(key, "hostname") == 0) set_opt(opts.hostname, sizeof opts.hostname, val);
    else if (strcmp(key, "channel") == 0) set_opt(opts.channel, sizeof opts.channel, val);
    else if (strcmp(key, "vsock") == 0) {
        char *end;
        unsigned long port = strtoul(val, &end, 10);
        if (*val == 0 || *end != 0 || port == 0 || port > 0xffffffffUL)
            vm_fail("smolvm.vsock=%s: expected a port number", val);
        opts.vsock_port = (unsigned)port;
    }
    else if (strcmp(key, "halt") == 0) opts.poweroff = strcmp(val, "poweroff") == 0;
    else if (strcmp(key, "verbose") == 0) opts.verbose = strcmp(val, "0") != 0;
    else if (strcmp(key, "volume") == 0) {
        if (from_args && !args_volumes) nvolumes = 0;
        if (from_args) args_volumes = 1;
        parse_volume(val);
    }
    else say("ignoring unknown %s smolvm.%s", from_args ? "argument" : "kernel option", key);
}

/* Reads the options: `cmdline` (normally /proc/cmdline), then the smolvm.* arguments PID 1 received. */
static void read_options(const char *cmdline) {
    set_opt(opts.rootfstype, sizeof opts.rootfstype, "ext4");
    set_opt(opts.rootrw, sizeof opts.rootrw, "tmpfs");
    set_opt(opts.hostname, sizeof opts.hostname, "smolvm");
    char buf[4096];
    int fd = open(cmdline, O_RDONLY | O_CLOEXEC);
    if (fd < 0) vm_fail("open %s: %s", cmdline, strerror(errno));
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) vm_fail("read %s: %s", cmdline, strerror(errno));
    buf[n] = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
        if (strncmp(tok, "smolvm.", 7) == 0) apply_option(tok, 0);
    }
    for (int i = 0; i < narg_options; i++) {
        char arg[VOLUME_TAG_MAX + VOLUME_PATH_MAX + 32];
        if (strlen(arg_options[i]) >= sizeof arg) vm_fail("argument %.40s...: too long", arg_options[i]);
        snprintf(arg, sizeof arg, "%s", arg_options[i]);
        apply_option(arg, 1);
    }
    if (strcmp(opts.root, "none") == 0) opts.root[0] = 0;
}

/* --print-config: the options as PID 1 would use them, one KEY=VALUE per line. */
static int print_config(int argc, char **argv) {
    dry_run = 1;
    const char *cmdline = "/proc/cmdline";
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--cmdline") == 0 && i + 1 < argc) cmdline = argv[++i];
        else if (strncmp(argv[i], "smolvm.", 7) == 0 && narg_options < MAX_ARG_OPTIONS) arg_options[narg_options++] = argv[i];
        else {
            dprintf(2, "smolvm-agent: --print-config: unexpected argument %s\n", argv[i]);
            return 2;
        }
    }
    read_options(cmdline);
    printf("root=%s\nrootfstype=%s\nrootrw=%s\nhostname=%s\nchannel=%s\nvsock=%u\nhalt=%s\nverbose=%d\n", opts.root,
           opts.rootfstype, opts.rootrw, opts.hostname, opts.channel, opts.vsock_port,
           opts.poweroff ? "poweroff" : "reboot", opts.verbose);
    for (int i = 0; i < nvolumes; i++)
        printf("volume=%s:%s%s%s\n", volumes[i].tag, volumes[i].path, volumes[i].readonly ? ":ro" : "",
               volumes[i].virtiofs ? ":virtiofs" : "");
    return 0;
}

static void wait_for_path(const char *path) {
    struct stat st;
    for (int waited = 0; stat(path, &st) < 0; waited += 10) {
        if (waited >= DEVICE_WAIT_MS)
            vm_fail("%s did not appear within %d ms: %s", path, DEVICE_WAIT_MS, strerror(errno));
        sleep_ms(10);
    }
}

/*
 * Mounts volume i inside the workload root. The mount point is reached component by component from the
 * root's own directory fd with O_NOFOLLOW|O_DIRECTORY, so a symlink shipped by the image (`/data -> /`)
 * is never followed out of the root: it stops the VM with a message instead. Missing components are
 * created (0755, in the overlay's upper layer). The mount goes through /proc/self/fd/N of the final
 * directory, which names exactly the directory that was checked.
 */
static void mount_volume(int i) {
    const struct volume *v = &volumes[i];
    int dirfd = open(ROOT_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0) vm_fail("volume %s: open %s: %s", v->path, ROOT_DIR, strerror(errno));
    char buf[VOLUME_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", v->path);
    char *save = NULL;
    for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0) continue;
        if (strcmp(c, "..") == 0) vm_fail("volume %s: \"..\" in the path", v->path);
        int fd = openat(dirfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            if (mkdirat(dirfd, c, 0755) < 0 && errno != EEXIST)
                vm_fail("volume %s: mkdir %s: %s", v->path, c, strerror(errno));
            fd = openat(dirfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0) {
            int e = errno;
            vm_fail("volume %s: \"%s\" in the image is not a directory%s: %s", v->path, c,
                    e == ELOOP || e == ENOTDIR ? " (symlinks in a volume's path are not followed)" : "", strerror(e));
        }
        close(dirfd);
        dirfd = fd;
    }
    char target[32];
    snprintf(target, sizeof target, "/proc/self/fd/%d", dirfd);
    unsigned long flags = v->readonly ? MS_RDONLY : 0;
    int rc = v->virtiofs ? mount(v->tag, target, "virtiofs", flags, NULL)
                         : mount(v->tag, target, "9p", flags, "trans=virtio,version=9p2000.L,msize=262144,cache=none");
    if (rc < 0)
        vm_fail("mount volume %s (%s) on %s: %s%s", v->tag, v->virtiofs ? "virtiofs" : "9p", v->path, strerror(errno),
                errno == ENOENT ? " (no device shares that tag; see the kernel log)" : "");
    close(dirfd);
    snprintf(volume_targets[i], sizeof volume_targets[i], "%s%s", ROOT_DIR, v->path);
    if (nmounted < MAX_MOUNTS) mounted[nmounted++] = volume_targets[i];
    if (opts.verbose) say("volume %s mounted on %s%s", v->tag, v->path, v->readonly ? " (read-only)" : "");
}

/* Returns the chroot directory for workloads, or NULL to run them in the initramfs. */
static const char *setup_root(void) {
    if (!opts.root[0]) {
        /* Workloads must never run in (and write to) the host's shared directory. */
        if (shared_root) vm_fail("no smolvm.root: the root is a shared host directory, not an initramfs to run workloads in");
        say("no smolvm.root on the kernel command line: workloads run in the initramfs");
        if (nvolumes > 0) say("ignoring %d smolvm.volume= option(s): volumes need smolvm.root", nvolumes);
        return NULL;
    }
    wait_for_path(opts.root);
    do_mount(opts.root, BASE_DIR, opts.rootfstype, MS_RDONLY, NULL);

    /* The overlay's writable layer. */
    if (strcmp(opts.rootrw, "tmpfs") == 0) {
        do_mount("smolvm-rw", RW_DIR, "tmpfs", 0, "mode=0755");
    } else if (strncmp(opts.rootrw, "/dev/", 5) == 0) {
        /* A machine's own writable disk: ext4, formatted by the host. */
        wait_for_path(opts.rootrw);
        do_mount(opts.rootrw, RW_DIR, "ext4", 0, NULL);
    } else {
        vm_fail("smolvm.rootrw=%s: expected tmpfs or a /dev/ path", opts.rootrw);
    }
    mkdir_p(RW_DIR "/upper", 0755);
    mkdir_p(RW_DIR "/work", 0755);
    do_mount("overlay", ROOT_DIR, "overlay", 0,
             "lowerdir=" BASE_DIR ",upperdir=" RW_DIR "/upper,workdir=" RW_DIR "/work");

    root_mountpoint(ROOT_DIR "/proc", 0555);
    root_mountpoint(ROOT_DIR "/sys", 0555);
    root_mountpoint(ROOT_DIR "/dev", 0755);
    root_mountpoint(ROOT_DIR "/tmp", 01777);
    root_mountpoint(ROOT_DIR "/run", 0755);
    do_mount("proc", ROOT_DIR "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    do_mount("sysfs", ROOT_DIR "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    /* The agent's /dev (with its devpts) so pty names match inside the root. */
    do_mount("/dev", ROOT_DIR "/dev", NULL, MS_BIND | MS_REC, NULL);
    do_mount("tmpfs", ROOT_DIR "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    do_mount("tmpfs", ROOT_DIR "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    for (int i = 0; i < nvolumes; i++) mount_volume(i);
    return ROOT_DIR;
}

static void loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        say("cannot bring up lo: socket: %s", strerror(errno));
        return;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        say("cannot bring up lo: %s", strerror(errno));
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) say("cannot bring up lo: %s", strerror(errno));
    }
    close(fd);
}

/* Looks for the virtio port named smolvm.agent; returns 1 and fills `dev` when found. */
static int find_port(char *dev, size_t cap) {
    DIR *d = opendir("/sys/class/virtio-ports");
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[512], name[64];
        snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, name, sizeof name - 1);
        close(fd);
        if (n <= 0) continue;
        name[n] = 0;
        while (n > 0 && (name[n - 1] == '\n' || name[n - 1] == ' ')) name[--n] = 0;
        if (strcmp(name, CHANNEL_NAME) == 0) {
            snprintf(dev, cap, "/dev/%s", e->d_name);
            found = 1;
        }
    }
    closedir(d);
    return found;
}

static int open_channel(void) {
    char dev[512] = "";
    struct stat st;
    for (int waited = 0;; waited += 10) {
        if (opts.channel[0]) snprintf(dev, sizeof dev, "%s", opts.channel);
        if ((opts.channel[0] || find_port(dev, sizeof dev)) && stat(dev, &st) == 0) break;
        if (waited >= DEVICE_WAIT_MS) {
            if (opts.channel[0]) vm_fail("channel %s did not appear within %d ms", dev, DEVICE_WAIT_MS);
            vm_fail("no virtio port named " CHANNEL_NAME " appeared within %d ms (is the "
                    "virtserialport configured?)",
                    DEVICE_WAIT_MS);
        }
        sleep_ms(10);
    }
    int fd = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) vm_fail("open %s: %s", dev, strerror(errno));
    /*
     * Until the host side is open, a virtio port polls POLLHUP (with POLLIN: a read returns EOF at
     * once). Wait for the host instead of taking that for "the host went away".
     */
    for (int waited = 0;; waited += 10) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, 0);
        if (rc == 0 || (rc > 0 && !(p.revents & (POLLHUP | POLLERR)))) break;
        if (rc < 0 && errno != EINTR) vm_fail("poll %s: %s", dev, strerror(errno));
        if (waited >= HOST_CONNECT_WAIT_MS)
            vm_fail("the host did not open the channel %s within %d ms", dev, HOST_CONNECT_WAIT_MS);
        sleep_ms(10);
    }
    if (opts.verbose) say("serving on %s", dev);
    return fd;
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Connects a stream socket, retrying for up to `wait_ms` (the host side may not listen yet, or the
 * transport may still be coming up). Returns the fd, or -1 with a message in `err`.
 */
static int connect_retry(int family, const struct sockaddr *sa, socklen_t len, int wait_ms, char *err,
                         size_t errlen) {
    int64_t deadline = mono_ms() + wait_ms;
    int last = 0, attempts = 0;
    for (;;) {
        attempts++;
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            int rc;
            do rc = connect(fd, sa, len);
            while (rc < 0 && errno == EINTR);
            if (rc == 0) return fd;
            last = errno;
            close(fd);
        } else {
            last = errno;
        }
        if (mono_ms() >= deadline) {
            snprintf(err, errlen, "%s (%d attempts in %d ms)", strerror(last), attempts, wait_ms);
            return -1;
        }
        sleep_ms(20);
    }
}

/* smolvm.vsock=PORT: the host (libkrun maps the port to a unix socket) listens on CID 2. */
static int open_vsock(unsigned port) {
    struct smol_sockaddr_vm sa;
    memset(&sa, 0, sizeof sa);
    sa.svm_family = AF_VSOCK;
    sa.svm_port = port;
    sa.svm_cid = SMOL_VMADDR_CID_HOST;
    char err[256];
    int fd = connect_retry(AF_VSOCK, (const struct sockaddr *)&sa, sizeof sa, VSOCK_CONNECT_WAIT_MS, err,
                           sizeof err);
    if (fd < 0) vm_fail("cannot connect to the host over vsock (CID 2, port %u): %s", port, err);
    if (opts.verbose) say("serving on vsock port %u", port);
    return fd;
}

/*
 * SCHED_BATCH: a woken agent does not preempt the running task. With one vCPU, a workload that writes
 * output in small pieces would otherwise wake the agent for every piece (a 4 KiB read, a 4 KiB frame, a
 * virtqueue kick each); now it runs on until its pipe fills or its time slice ends, and the agent then
 * reads 64 KiB at a time. Idle-CPU wakeups are not delayed. Workloads get SCHED_OTHER back (exec.c).
 */
static void batch_scheduling(void) {
    struct {
        int sched_priority;
    } sp = {0};
    if (syscall(SYS_sched_setscheduler, 0, 3 /* SCHED_BATCH */, &sp) < 0)
        say("SCHED_BATCH: %s (output may come in smaller frames)", strerror(errno));
}

static _Noreturn void vm_main(void) {
    umask(022);
    struct statfs rootfs;
    shared_root = statfs("/", &rootfs) == 0 && (long)rootfs.f_type == SMOL_FUSE_SUPER_MAGIC;
    if (!shared_root) mkdir("/dev", 0755);
    int dev_rc = mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    int dev_errno = errno;
    if (dev_rc == 0) mounted[nmounted++] = "/dev";
    console_stdio(); /* before anything can fail: failures are printed there */
    for (int i = 0; i < 3; i++) {
        if (fcntl(i, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0) {
            /* Nothing to print to; fds 0..2 must still be taken (see exec.c). */
            open("/", O_RDONLY);
        }
    }
    if (dev_rc < 0 && dev_errno != EBUSY) vm_fail("mount devtmpfs on /dev: %s", strerror(dev_errno));
    do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    do_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620,gid=5");
    do_mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    /* On the host's shared directory, everything the agent creates lives on this tmpfs. */
    if (shared_root) do_mount("smolvm", SMOLVM_DIR, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    do_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    do_mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    read_options("/proc/cmdline");
    if (shared_root && opts.verbose) say("root is a shared host directory (virtio-fs): writing only to tmpfs");
    batch_scheduling();

    const char *root = setup_root();
    if (sethostname(opts.hostname, strlen(opts.hostname)) < 0)
        say("sethostname %s: %s", opts.hostname, strerror(errno));
    loopback_up();

    int ch = opts.vsock_port ? open_vsock(opts.vsock_port) : open_channel();
    struct session_config cfg = {.in_fd = ch, .out_fd = ch, .exec_root = root, .verbose = opts.verbose};
    enum session_end end = session_run(&cfg);
    vm_halt(end == SESSION_FATAL, session_end_name(end));
}

/* ---- entry ---- */

/* Test mode --connect: the same connect-and-retry as smolvm.vsock=, to a unix socket or any vsock CID. */
static int test_connect(const char *spec) {
    char err[256];
    int fd = -1;
    if (strncmp(spec, "unix:", 5) == 0) {
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        if (strlen(spec + 5) >= sizeof sa.sun_path) {
            say("--connect %s: path too long", spec);
            return -1;
        }
        strcpy(sa.sun_path, spec + 5);
        fd = connect_retry(AF_UNIX, (const struct sockaddr *)&sa, sizeof sa, VSOCK_CONNECT_WAIT_MS, err,
                           sizeof err);
    } else {
        unsigned cid, port;
        char tail;
        if (sscanf(spec, "vsock:%u:%u%c", &cid, &port, &tail) != 2) {
            say("--connect %s: expected unix:PATH or vsock:CID:PORT", spec);
            return -1;
        }
        struct smol_sockaddr_vm sa;
        memset(&sa, 0, sizeof sa);
        sa.svm_family = AF_VSOCK;
        sa.svm_port = port;
        sa.svm_cid = cid;
        fd = connect_retry(AF_VSOCK, (const struct sockaddr *)&sa, sizeof sa, VSOCK_CONNECT_WAIT_MS, err,
                           sizeof err);
    }
    if (fd < 0) say("--connect %s: %s", spec, err);
    return fd;
}

static void usage(void) {
    dprintf(2, "usage: smolvm-agent                (as PID 1 in a smolvm microVM)\n"
               "       smolvm-agent --stdio [-v]   (serve the protocol on fd 0/1, for tests)\n"
               "       smolvm-agent --fd N [-v]    (serve the protocol on fd N, for tests)\n"
               "           --root DIR              (test mode: file operations resolve inside DIR)\n"
               "       smolvm-agent --connect unix:PATH|vsock:CID:PORT [-v]\n"
               "                                   (connect, retrying for 5 s, and serve there)\n"
               "       smolvm-agent --print-config [--cmdline FILE] [smolvm.KEY=VALUE...]\n"
               "                                   (print the options PID 1 would use, and exit)\n"
               "       smolvm-agent --version\n");
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--print-config") == 0) return print_config(argc, argv);
    int in_fd = -1, out_fd = -1, verbose = 0;
    const char *fs_root = "/", *connect_to = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--stdio") == 0) {
            in_fd = 0;
            out_fd = 1;
        } else if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 65535) {
                usage();
                return 2;
            }
            in_fd = out_fd = (int)v;
        } else if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc) {
            connect_to = argv[++i];
        } else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) {
            fs_root = argv[++i];
        } else if (strcmp(argv[i], "--no-tmpfile") == 0) {
            fs_use_tmpfile = 0; /* tests: FS_WRITE uses a named temporary file, as on overlayfs */
        } else if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s\n", AGENT_NAME);
            return 0;
        } else if (getpid() == 1 && strncmp(argv[i], "smolvm.", 7) == 0) {
            /* Options as arguments: libkrun's init passes krun_set_exec's argv (see read_options). */
            if (narg_options < MAX_ARG_OPTIONS) arg_options[narg_options++] = argv[i];
            else dprintf(2, "smolvm-agent: ignoring argument %s (more than %d)\n", argv[i], MAX_ARG_OPTIONS);
        } else if (getpid() == 1) {
            /* The kernel hands unknown command-line words to init as arguments; PID 1 must not exit
               over them (that panics the kernel). */
            dprintf(2, "smolvm-agent: ignoring argument %s\n", argv[i]);
        } else {
            usage();
            return 2;
        }
    }

    /* Common process setup: SIGCHLD is read from a signalfd; writes to closed pipes return EPIPE. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 8192 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    if (connect_to && in_fd < 0) {
        in_fd = out_fd = test_connect(connect_to);
        if (in_fd < 0) return 1;
    }
    if (in_fd < 0) {
        if (getpid() != 1) {
            dprintf(2, "smolvm-agent: not PID 1; use --stdio or --fd N to serve the protocol in a test\n");
            usage();
            return 2;
        }
        vm_main();
    }

    /* Test mode: no mounts, no chroot, no reboot. Keep fds 0..2 taken (exec.c relies on it). */
    if (fcntl(in_fd, F_GETFD) < 0) {
        dprintf(2, "smolvm-agent: fd %d is not open\n", in_fd);
        return 2;
    }
    for (int i = 0; i < 3; i++) {
        if (fcntl(i, F_GETFD) < 0) open("/dev/null", O_RDWR);
    }
    if (in_fd > 2) fcntl(in_fd, F_SETFD, FD_CLOEXEC);
    int in_fl = fcntl(in_fd, F_GETFL), out_fl = fcntl(out_fd, F_GETFL);
    struct session_config cfg = {
        .in_fd = in_fd, .out_fd = out_fd, .exec_root = NULL, .fs_root = fs_root, .verbose = verbose};
    enum session_end end = session_run(&cfg);
    /* Give the fds back the way we found them (they may be a terminal shared with a shell). */
    if (in_fl >= 0) fcntl(in_fd, F_SETFL, in_fl);
    if (out_fl >= 0 && out_fd != in_fd) fcntl(out_fd, F_SETFL, out_fl);
    if (verbose) say("exiting: %s", session_end_name(end));
    return end == SESSION_FATAL ? 1 : 0;
}
