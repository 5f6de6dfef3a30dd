// test_files.cpp — reco and the file system: inputs that are not regular files (a directory, a FIFO,
// a device), outputs that cannot be written (checked before the work), temporary files left by a
// SIGKILL, two writers of one output (the lock), a UTF-8 BOM in text files, and checkpoints that
// name their data with paths that hold from any working directory.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "common.h"
#include "memory.h"
#include "out_lock.h"
#include "pairs_tsv.h"
#include "safetensors.h"
#include "test_util.h"

using namespace reco;
using testutil::contains;
using testutil::error_of;

namespace {

// One flat temporary folder per test program, removed at exit.
struct TmpDir {
    std::string path;
    TmpDir() {
        char t[] = "/tmp/reco_files_XXXXXX";
        path = mkdtemp(t);
    }
    ~TmpDir() {
        std::string cmd = "rm -rf '" + path + "'";
        if (system(cmd.c_str()) != 0) fprintf(stderr, "note: could not remove %s\n", path.c_str());
    }
} g_tmp;

std::string tmp(const std::string& name) { return g_tmp.path + "/" + name; }

void write_text(const std::string& path, const std::string& text) { write_file_atomic(path, text.data(), text.size()); }

// The reco binary as an absolute path (the tests that change directory need it).
std::string reco_abs() {
    std::string b = testutil::reco_bin();
    b.pop_back();  // the trailing space
    return absolute_path(b) + " ";
}

// A pid that is certainly not alive: a child that has exited and been reaped.
pid_t dead_pid() {
    pid_t p = fork();
    if (p == 0) _exit(0);
    int st = 0;
    waitpid(p, &st, 0);
    return p;
}

// Random pairs written as an embedding file.
void write_random(const std::string& path, int n, int d, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> g;
    std::vector<float> img((size_t)n * d), txt((size_t)n * d);
    for (auto& x : img) x = g(rng);
    for (auto& x : txt) x = g(rng);
    write_embedding_file(path, img.data(), txt.data(), n, d, {}, "test-clip");
}

// A float32 (rows, cols) .npy, version 1.0.
void write_npy(const std::string& path, int rows, int cols) {
    std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                    std::to_string(cols) + "), }";
    while ((10 + h.size() + 1) % 64) h += ' ';
    h += '\n';
    std::string f = std::string("\x93NUMPY\x01\x00", 8);
    f += (char)(h.size() & 255);
    f += (char)(h.size() >> 8);
    f += h;
    for (int i = 0; i < rows * cols; i++) {
        float v = 0.25f + (float)(i % 5);
        f.append((const char*)&v, 4);
    }
    write_text(path, f);
}

int files_starting(const std::string& dir, const std::string& prefix) {
    int n = 0;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) n += std::string(e->d_name).rfind(prefix, 0) == 0;
        closedir(d);
    }
    return n;
}

}  // namespace

// ------------------------------------------------------------------------------------ inputs
TEST_CASE("files: a directory, a FIFO or a device given as an input file is refused by name, without blocking") {
    const std::string dir = tmp("adir"), fifo = tmp("fifo");
    REQUIRE(mkdir(dir.c_str(), 0755) == 0);
    REQUIRE(mkfifo(fifo.c_str(), 0644) == 0);
    CHECK(contains(error_of([&] { read_file(dir); }), dir + ": is a directory"));
    CHECK(contains(error_of([&] { MappedFile m(dir); }), dir + ": is a directory"));
    CHECK(contains(error_of([&] { SafeTensors st(dir); }), "is a directory"));
    struct stat dn;
    if (stat("/dev/null", &dn) == 0 && S_ISCHR(dn.st_mode)) {
        CHECK(contains(error_of([] { read_file("/dev/null"); }), "/dev/null: is a character device"));
        CHECK(contains(error_of([] { MappedFile m("/dev/null"); }), "not a regular file"));
    }
    // A FIFO with no writer: opening it for reading would wait forever. Through the binary, under
    // `timeout`, so that a regression fails instead of hanging the suite.
    std::string out;
    CHECK(run_cmd("timeout 20 " + testutil::reco_bin() + "info " + fifo, &out) == 1);
    CHECK(contains(out, fifo + ": is a FIFO, not a regular file"));
    // read_file (here the captions of import-npy) the same
    const std::string a = tmp("fifo_a.npy"), b = tmp("fifo_b.npy");
    write_npy(a, 2, 4);
    write_npy(b, 2, 4);
    CHECK(run_cmd("timeout 20 " + testutil::reco_bin() + "memory import-npy --image-npy " + a + " --text-npy " + b +
                      " --captions " + fifo + " --out " + tmp("fifo_out.safetensors"),
                  &out) == 1);
    CHECK(contains(out, fifo + ": is a FIFO"));
    CHECK_FALSE(testutil::exists(tmp("fifo_out.safetensors")));
}

// ------------------------------------------------------------------------------------ outputs
TEST_CASE("files: an output that cannot be written is refused before any work, naming --out") {
    const std::string a = tmp("out_a.npy"), b = tmp("out_b.npy");
    write_npy(a, 3, 4);
    write_npy(b, 3, 4);
    auto import_err = [&](const std::string& out, const std::string& image = "") {
        std::string msg;
        const int rc = run_cmd(testutil::reco_bin() + "memory import-npy --image-npy " + (image.empty() ? a : image) +
                                   " --text-npy " + b + " --out " + out,
                               &msg);
        CHECK(rc == 1);
        return msg;
    };
    // checked before the inputs are read: a missing input is not what is reported
    std::string m = import_err(tmp("no/such/dir/m.safetensors"), tmp("missing.npy"));
    CHECK(contains(m, "--out " + tmp("no/such/dir/m.safetensors")));
    CHECK(contains(m, "does not exist"));
    CHECK_FALSE(contains(m, "missing.npy"));
    // the output is a directory, the folder is a file, the output is not a regular file
    const std::string outdir = tmp("outdir");
    REQUIRE(mkdir(outdir.c_str(), 0755) == 0);
    // (an existing directory as --out receives the pairs as shards, SPEC §9: only into one without memory files)
    std::string first;
    CHECK(run_cmd(testutil::reco_bin() + "memory import-npy --image-npy " + a + " --text-npy " + b + " --out " + outdir,
                  &first) == 0);
    CHECK(testutil::exists(outdir + "/shard-00000.safetensors"));
    CHECK(contains(import_err(outdir), "already holds memory files"));
    CHECK(contains(import_err(outdir + "/"), "already holds memory files"));
    CHECK(contains(import_err(a + "/m.safetensors"), "is not a directory"));
    // (a FIFO of our own, not /dev/null: as root, a regression would rename the output over it)
    const std::string fifo_out = tmp("out_fifo");
    REQUIRE(mkfifo(fifo_out.c_str(), 0644) == 0);
    CHECK(contains(import_err(fifo_out), fifo_out + ": is a FIFO, not a regular file"));
    // a folder that takes no files: /sys refuses even root; a read-only folder refuses other users
    struct stat st;
    if (stat("/sys", &st) == 0 && S_ISDIR(st.st_mode) && access("/sys", W_OK) != 0)
        CHECK(contains(import_err("/sys/m.safetensors"), "cannot write into the directory '/sys'"));
    if (geteuid() != 0) {
        const std::string ro = tmp("readonly");
        REQUIRE(mkdir(ro.c_str(), 0555) == 0);
        CHECK(contains(import_err(ro + "/m.safetensors"), "cannot write into the directory"));
    }
    // and the good case still writes, leaving no temporary file
    std::string msg;
    CHECK(run_cmd(testutil::reco_bin() + "memory import-npy --image-npy " + a + " --text-npy " + b + " --out " +
                      tmp("good.safetensors"),
                  &msg) == 0);
    CHECK(files_starting(g_tmp.path, "good.safetensors.tmp.") == 0);

    // `train` (also before reading its data) and `memory build` (before loading the model)
    CHECK(run_cmd(testutil::reco_bin() + "train --data " + tmp("missing.st") + " --memory " + tmp("missing.st") +
                      " --out /sys/f.safetensors",
                  &msg) == 1);
    if (access("/sys", W_OK) != 0) CHECK(contains(msg, "--out /sys/f.safetensors: cannot write into the directory"));
    CHECK(run_cmd(testutil::reco_bin() + "memory build --model " + tmp("no-model") + " --pairs " + tmp("missing.tsv") +
                      " --out " + outdir,
                  &msg) == 1);
    CHECK(contains(msg, "--out " + outdir + ": is a directory"));
}

TEST_CASE("files: write_file_atomic names the user's file when it fails, the temporary file only as detail") {
    const std::string out = tmp("atomic.bin"), blocker = out + ".tmp." + std::to_string(getpid());
    REQUIRE(mkdir(blocker.c_str(), 0755) == 0);  // our temporary name is taken by a folder
    const std::string e = error_of([&] { write_text(out, "x"); });
    CHECK(e.rfind(out + ": cannot write", 0) == 0);
    CHECK(contains(e, "temporary file"));
    REQUIRE(rmdir(blocker.c_str()) == 0);
    write_text(out, "x");
    CHECK(read_file(out) == "x");
}

TEST_CASE("files: temporary files of dead writers are removed at the next write; a live writer's never") {
    const std::string out = tmp("ck.safetensors");
    const pid_t dead = dead_pid();
    const std::string stale = out + ".tmp." + std::to_string(dead);
    const std::string live = out + ".tmp." + std::to_string(getppid());  // a process that is alive
    const std::string locked = out + ".tmp." + std::to_string(dead_pid());  // pid gone, but its flock is held
    const std::string other = tmp("other.safetensors.tmp." + std::to_string(dead));  // another output's
    for (const std::string& f : {stale, live, locked, other}) write_text(f, "partial");
    const int fd = open(locked.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    REQUIRE(flock(fd, LOCK_EX) == 0);  // e.g. a writer in another pid namespace
    write_text(out, "checkpoint");
    CHECK_FALSE(testutil::exists(stale));
    CHECK(testutil::exists(live));
    CHECK(testutil::exists(locked));
    CHECK(testutil::exists(other));
    close(fd);
    write_text(out, "checkpoint 2");
    CHECK_FALSE(testutil::exists(locked));
    CHECK(testutil::exists(live));
    CHECK(read_file(out) == "checkpoint 2");
    unlink(live.c_str());
    unlink(other.c_str());
}

// ------------------------------------------------------------------------------------ the lock
TEST_CASE("files: one writer per output; the lock dies with its process") {
    const std::string out = tmp("locked.safetensors");
    {
        OutputLock lock(out, "reco train");
        CHECK(testutil::exists(out + ".lock"));
        const std::string e = error_of([&] { OutputLock again(out, "reco train"); });
        CHECK(contains(e, out + ": is being written by another reco train (pid " + std::to_string(getpid()) + ")"));
    }
    CHECK_FALSE(testutil::exists(out + ".lock"));  // removed on a normal exit
    // a holder killed by SIGKILL: the kernel drops its flock; the file left behind is no obstacle
    pid_t p = fork();
    if (p == 0) {
        try {
            OutputLock lock(out, "reco train");
            raise(SIGKILL);
        } catch (...) {
        }
        _exit(3);
    }
    int st = 0;
    waitpid(p, &st, 0);
    REQUIRE(WIFSIGNALED(st));
    CHECK(testutil::exists(out + ".lock"));
    CHECK(error_of([&] { OutputLock lock(out, "reco train"); }) == "");
}

TEST_CASE("files: a second reco train with the same --out (or resuming it) fails at once, naming the first") {
    const std::string data = tmp("lk_d.safetensors"), mem = tmp("lk_m.safetensors"), ck = tmp("lk_ck.safetensors");
    write_random(data, 24, 8, 1);
    write_random(mem, 20, 8, 2);
    const std::string args = "train --data " + data + " --memory " + mem + " --k 2 --batch 8 --heads 2 --steps 4";
    REQUIRE(run_cmd(testutil::reco_bin() + args + " --stop-after 2 --out " + ck) == 0);
    const std::string saved = read_file(ck);
    std::string msg;
    {
        OutputLock other(ck, "reco train");  // as if another run were training into ck
        const std::string held = "(pid " + std::to_string(getpid()) + ")";
        CHECK(run_cmd(testutil::reco_bin() + args + " --out " + ck, &msg) == 1);
        CHECK(contains(msg, ck + ": is being written by another reco train " + held));
        CHECK(run_cmd(testutil::reco_bin() + "train --resume " + ck, &msg) == 1);
        CHECK(contains(msg, "is being written by another reco train " + held));
        CHECK(read_file(ck) == saved);
    }
    CHECK(run_cmd(testutil::reco_bin() + "train --resume " + ck, &msg) == 0);
    CHECK(load_checkpoint(ck).step == 4);
    // The last run may have been killed after saving step 300 and before removing OUT.lock: the file
    // can stay, but the kernel released its lock, so it never blocks the next run.
    if (testutil::exists(ck + ".lock")) {
        const int fd = open((ck + ".lock").c_str(), O_RDONLY);
        REQUIRE(fd >= 0);
        CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);
        close(fd);
    }
}

// ------------------------------------------------------------------------------------ BOM
TEST_CASE("files: a UTF-8 byte order mark does not become part of the first field") {
    std::vector<PairRow> rows =
        parse_pairs_tsv("\xEF\xBB\xBF/abs/a.jpg\ta cat\nb.jpg\ta dog\n", "/data/pairs.tsv", false, nullptr);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].image == "/abs/a.jpg");  // absolute, not "/data/\xEF\xBB\xBF/abs/a.jpg"
    CHECK(rows[1].image == "/data/b.jpg");
    rows = parse_pairs_tsv("\xEF\xBB\xBFrel.jpg\tcaption\r\n", "pairs.tsv", false, nullptr);
    CHECK(rows[0].image == "./rel.jpg");
    // only a leading BOM is dropped
    std::string s = "x\xEF\xBB\xBF";
    strip_utf8_bom(s);
    CHECK(s == "x\xEF\xBB\xBF");

    // the captions file of import-npy
    const std::string a = tmp("bom_a.npy"), b = tmp("bom_b.npy"), caps = tmp("bom_caps.txt"), out = tmp("bom.st");
    write_npy(a, 2, 4);
    write_npy(b, 2, 4);
    write_text(caps, "\xEF\xBB\xBF" "first caption\r\nsecond\r\n");
    std::string msg;
    REQUIRE(run_cmd(testutil::reco_bin() + "memory import-npy --image-npy " + a + " --text-npy " + b + " --captions " +
                        caps + " --out " + out,
                    &msg) == 0);
    EmbeddingFile ef(out);
    CHECK(ef.caption(0) == "first caption");
    CHECK(ef.caption(1) == "second");
}

TEST_CASE("files: pairs TSV rows: NUL bytes are a bad row; --skip-bad notes them; nothing usable is an error") {
    const std::string text = std::string("a.jpg\tcap\nb.jpg\tc\0p\n", 20);
    CHECK(contains(error_of([&] { parse_pairs_tsv(text, "p.tsv", false, nullptr); }), "p.tsv:2: a NUL byte"));
    CHECK(parse_pairs_tsv(text, "p.tsv", true, nullptr).size() == 1);
    CHECK(contains(error_of([] { parse_pairs_tsv("\xEF\xBB\xBF", "p.tsv", false, nullptr); }), "no image-caption pairs"));
}

// ------------------------------------------------------------------------------------ resume
TEST_CASE("files: --resume works from another working directory; old relative checkpoints say what is missing") {
    const std::string dir = tmp("cwd_run"), other = tmp("cwd_other");
    REQUIRE(mkdir(dir.c_str(), 0755) == 0);
    REQUIRE(mkdir(other.c_str(), 0755) == 0);
    write_random(dir + "/d.safetensors", 24, 8, 3);
    write_random(dir + "/m.safetensors", 20, 8, 4);
    const std::string bin = reco_abs();
    std::string msg;
    REQUIRE(run_cmd("cd " + dir + " && " + bin +
                        "train --data d.safetensors --memory m.safetensors --k 2 --batch 8 --heads 2 --steps 4 "
                        "--stop-after 2 --out ck.safetensors",
                    &msg) == 0);
    Checkpoint ck = load_checkpoint(dir + "/ck.safetensors");
    CHECK(ck.settings.data == absolute_path(dir + "/d.safetensors"));
    CHECK(ck.settings.memory == absolute_path(dir + "/m.safetensors"));
    CHECK(run_cmd("cd " + other + " && " + bin + "train --resume " + dir + "/ck.safetensors", &msg) == 0);
    INFO(msg);
    CHECK(load_checkpoint(dir + "/ck.safetensors").step == 4);

    // a checkpoint of an older reco, with the paths as typed: fine from its folder, and from
    // elsewhere an error naming the path that was not found
    ck.settings.data = "d.safetensors";
    ck.settings.memory = "m.safetensors";
    const std::string old_ck = dir + "/old.safetensors";
    save_checkpoint(old_ck, ck.model, &ck.opt, ck.settings, ck.step);
    CHECK(run_cmd("cd " + other + " && " + bin + "train --resume " + old_ck + " --out " + other + "/x.safetensors",
                  &msg) == 1);
    CHECK(contains(msg, "'d.safetensors' is a relative path"));
    CHECK(contains(msg, old_ck));
    CHECK_FALSE(testutil::exists(other + "/x.safetensors"));
    CHECK(run_cmd("cd " + dir + " && " + bin + "train --resume old.safetensors", &msg) == 0);
    CHECK(load_checkpoint(old_ck).settings.data == absolute_path(dir + "/d.safetensors"));
}

// ------------------------------------------------------------------------------------ checkpoints
TEST_CASE("files: a checkpoint claiming a huge width in a small file is refused before allocating") {
    // image_fusion.ln1.weight says d = 65536: the model would be 12·d² floats (hundreds of GB)
    std::vector<float> w(65536, 1.0f);
    SafeTensorsWriter sw;
    sw.add_f32("image_fusion.ln1.weight", {65536}, w.data());
    sw.set_metadata("heads", "8");
    const std::string f = tmp("wide.safetensors");
    sw.write(f);
    const std::string e = error_of([&] { load_checkpoint(f); });
    CHECK(contains(e, f));
    CHECK(contains(e, "missing tensor"));
    // metadata integers are range-checked before narrowing
    SafeTensorsWriter s2;
    FusionModel m;
    FusionDims dims;
    dims.d = 8, dims.heads = 2;
    m.init(dims, 2.0f, 1);
    m.save(s2);
    s2.set_metadata("heads", "2");
    s2.set_metadata("k", "4294967297");  // 2^32 + 1, which an int cast makes 1
    s2.write(tmp("k.safetensors"));
    CHECK(contains(error_of([&] { load_checkpoint(tmp("k.safetensors")); }), "metadata k = 4294967297 is invalid"));
}

TEST_CASE("files: reco train refuses an --out that is its own --data or --memory file") {
    const std::string data = tmp("self_d.safetensors"), mem = tmp("self_m.safetensors");
    write_random(data, 24, 8, 5);
    write_random(mem, 20, 8, 6);
    const std::string before = read_file(data);
    std::string msg;
    CHECK(run_cmd(testutil::reco_bin() + "train --data " + data + " --memory " + mem +
                      " --k 2 --batch 8 --heads 2 --steps 1 --out " + data,
                  &msg) == 1);
    CHECK(contains(msg, "--out " + data + ": is the --data file"));
    CHECK(read_file(data) == before);
    CHECK(run_cmd(testutil::reco_bin() + "train --data " + data + " --memory " + mem +
                      " --k 2 --batch 8 --heads 2 --steps 1 --out " + mem,
                  &msg) == 1);
    CHECK(contains(msg, "is the --memory file"));
}

TEST_CASE("files: reco train killed (SIGKILL) at random moments resumes to the same bytes, leaving no temp files or lock") {
    const std::string data = tmp("kill_d.safetensors"), mem = tmp("kill_m.safetensors");
    const std::string straight = tmp("kill_straight.safetensors"), ck = tmp("kill_ck.safetensors");
    write_random(data, 32, 8, 7);
    write_random(mem, 24, 8, 8);
    const std::string args = "train --data " + data + " --memory " + mem +
                             " --k 2 --batch 8 --heads 2 --steps 300 --save-every 1 --log-every 0";
    REQUIRE(run_cmd(testutil::reco_bin() + args + " --out " + straight) == 0);
    std::mt19937 rng(11);
    int kills = 0;  // runs started, each killed unless it finished first
    for (int attempt = 0; attempt < 40; attempt++) {
        const std::string cmd = testutil::exists(ck) ? testutil::reco_bin() + "train --resume " + ck + " --save-every 1 --log-every 0"
                                                     : testutil::reco_bin() + args + " --out " + ck;
        if (testutil::exists(ck) && load_checkpoint(ck).step == 300) break;
        const int ms = 20 + (int)(rng() % 150);
        const int rc = run_cmd("sh -c '" + cmd + " & p=$!; sleep " + strformat("%.3f", ms / 1000.0) +
                               "; kill -9 $p 2>/dev/null; wait $p; exit 0'");
        REQUIRE(rc == 0);
        kills++;
    }
    INFO("runs started: ", kills);
    if (!(testutil::exists(ck) && load_checkpoint(ck).step == 300))
        REQUIRE(run_cmd(testutil::reco_bin() + "train --resume " + ck + " --log-every 0") == 0);
    CHECK(read_file(ck) == read_file(straight));
    // the last run removed the temporary files its killed predecessors left, and its own lock
    CHECK(files_starting(g_tmp.path, "kill_ck.safetensors.tmp.") == 0);
    // The last run may have been killed after saving step 300 and before removing OUT.lock: the file
    // can stay, but the kernel released its lock, so it never blocks the next run.
    if (testutil::exists(ck + ".lock")) {
        const int fd = open((ck + ".lock").c_str(), O_RDONLY);
        REQUIRE(fd >= 0);
        CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);
        close(fd);
    }
}
