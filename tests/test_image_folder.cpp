// test_image_folder.cpp — the ImageFolder layout `reco eval zeroshot --images` reads, and its bad input: an
// empty class folder, non-image files (skipped and counted), duplicate class names, a --classes file with the
// wrong number of lines, templates without {}; the torchvision order of classes and files; SHA-256 (the
// image-embedding cache's content key) on the FIPS 180-4 examples.
#include <string>
#include <vector>

#include "common.h"
#include "eval_test_util.h"
#include "eval_zeroshot.h"
#include "image_folder.h"
#include "sha256.h"

using namespace reco;
using namespace evaltest;
using testutil::contains;

TEST_CASE("eval zeroshot --images: bad input is refused naming the file; non-image files are skipped and counted") {
    REQUIRE_SHARED_DATA();
    const std::string root = tmp_dir() + "/zs_bad", model = tiny_clip(), img = shared_abs() + "/images/tuxpaint/";
    sh("rm -rf " + root + " && mkdir -p " + root);
    auto folder = [&](const std::string& name, const std::vector<std::string>& files) {
        const std::string d = root + "/" + name;
        for (auto& f : files) {
            sh("mkdir -p \"$(dirname '" + d + "/" + f + "')\"");
            if (is_image_file_name(f)) sh("ln -sf " + img + "duck.png '" + d + "/" + f + "'");
            else write(d + "/" + f, "not an image");
        }
        return d;
    };
    auto fails = [&](const std::string& args, const std::string& what) {
        std::string out;
        const std::string pred = root + "/pred.tsv";
        int rc = run_cmd(testutil::reco_bin() + "eval zeroshot --device cpu --model " + model + " " + args + " --predictions " + pred, &out);
        CHECK_MESSAGE(rc == 1, out);
        CHECK_MESSAGE(contains(out, what), out);
        CHECK(!testutil::exists(pred));  // nothing half-written
    };
    SUBCASE("an empty class folder") {
        const std::string d = folder("empty", {"cat/a.png", "dog/readme.txt"});
        sh("mkdir -p " + d + "/zebra");
        fails("--images " + d, d + "/dog: class folder without images");
    }
    SUBCASE("non-image files are skipped with a count, not fatal") {
        const std::string d = folder("mixed", {"cat/a.png", "cat/notes.txt", "cat/b.webp", "dog/b.JPG", "dog/x/y.png", "dog/.hidden.png"});
        std::string out = run_ok("--images " + d + " --model " + model + " --no-cache");
        CHECK(contains(out, "skipped 3 files or folders that are not an image or a class folder"));
        CHECK(contains(out, "3 images in 2 classes"));
    }
    SUBCASE("duplicate class names") {
        const std::string d = folder("dup", {"sea_lion/a.png", "sea lion/b.png", "seal/c.png"});
        fails("--images " + d, "class folders 'sea lion' and 'sea_lion' have the same class name 'sea lion'");
        write(root + "/dup.txt", "lion\nseal\nlion\n");
        fails("--images " + d + " --classes " + root + "/dup.txt",
              "class folders 'sea lion' and 'seal' have the same class name 'lion' (from " + root + "/dup.txt)");
    }
    SUBCASE("--classes with the wrong number of lines, or an empty line") {
        const std::string d = folder("three", {"a/x.png", "b/x.png", "c/x.png"});
        write(root + "/two.txt", "apple\nbanana\n\n");
        fails("--images " + d + " --classes " + root + "/two.txt", root + "/two.txt: 2 class names for 3 class folders in " + d);
        write(root + "/gap.txt", "apple\n\nbanana\ncherry\n");
        fails("--images " + d + " --classes " + root + "/gap.txt", root + "/gap.txt:2: empty line");
    }
    SUBCASE("templates without {}") {
        const std::string d = folder("tmpl", {"a/x.png", "b/x.png"});
        write(root + "/t.txt", "a photo of a {}.\n\na drawing of a thing\n");
        fails("--images " + d + " --templates " + root + "/t.txt", root + "/t.txt:3: template without {}");
    }
    SUBCASE("not a folder; no class folders; half of the RECO options") {
        fails("--images " + root + "/missing", root + "/missing: no such folder");
        write(root + "/file", "x");
        fails("--images " + root + "/file", root + "/file: is a regular file, not a folder");
        sh("mkdir -p " + root + "/flat && ln -sf " + img + "duck.png " + root + "/flat/x.png");
        fails("--images " + root + "/flat", root + "/flat: no class folders");
        const std::string d = folder("reco", {"a/x.png", "b/x.png"});
        fails("--images " + d + " --memory " + root + "/m.safetensors", "needs both --memory MEM and --fusion CKPT");
    }
}

TEST_CASE("image folder scan: torchvision order (sorted classes, folders by path, files sorted), names, templates") {
    const std::string root = tmp_dir() + "/scan";
    sh("rm -rf " + root + " && mkdir -p " + root + "/b_b/sub " + root + "/a/z " + root + "/B");
    for (const char* f : {"b_b/z.png", "b_b/A.jpeg", "b_b/sub/a.gif", "b_b/sub.png", "a/z/1.bmp", "a/y.PNG", "B/x.tga"})
        write(root + "/" + f, "x");
    ImageFolder f = read_image_folder(root);
    CHECK(f.folders == std::vector<std::string>{"B", "a", "b_b"});
    CHECK(f.classes == std::vector<std::string>{"B", "a", "b b"});
    // os.walk roots sorted: "b_b" < "b_b/sub"; files sorted byte-wise in each
    CHECK(f.paths == std::vector<std::string>{root + "/B/x.tga", root + "/a/y.PNG", root + "/a/z/1.bmp",
                                              root + "/b_b/A.jpeg", root + "/b_b/sub.png", root + "/b_b/z.png",
                                              root + "/b_b/sub/a.gif"});
    CHECK(f.label == std::vector<int>{0, 1, 1, 2, 2, 2, 2});
    CHECK(f.count == std::vector<int>{1, 2, 4});
    CHECK(f.skipped == 0);
    CHECK(fill_template("a {} of a {}.", "photo") == "a photo of a photo.");
    CHECK(fill_template("{}", "x") == "x");
    CHECK(!is_image_file_name(".png"));
    CHECK(!is_image_file_name("x.webp"));
    CHECK(is_image_file_name("x.JpG"));
    write(root + "/names.txt", "\xEF\xBB\xBF" "one \r\n two\n\n\n");
    CHECK(read_class_names(root + "/names.txt") == std::vector<std::string>{"one", "two"});
    write(root + "/t.txt", "\xEF\xBB\xBF" "a {}.\r\n\nthe {}\n");
    CHECK(read_templates(root + "/t.txt") == std::vector<std::string>{"a {}.", "the {}"});
}

TEST_CASE("sha256 equals the FIPS 180-4 examples") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    Sha256 h;  // one million 'a', fed in uneven pieces
    std::string a(1000, 'a');
    for (int i = 0; i < 1000; i++) h.update(a.data(), 1 + (i % 7)), h.update(a.data(), 1000 - 1 - (i % 7));
    CHECK(h.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
