// image_folder.cpp — scanning a torchvision ImageFolder (see image_folder.h).
#include "image_folder.h"

#include <algorithm>
#include <dirent.h>
#include <map>
#include <set>
#include <sys/stat.h>
#include <utility>

#include "common.h"

namespace reco {

bool is_image_file_name(const std::string& name) {
    size_t dot = name.rfind('.');
    if (dot == std::string::npos || dot == 0) return false;
    std::string ext = name.substr(dot + 1);
    for (char& c : ext) c = (char)std::tolower((unsigned char)c);
    for (const char* e : {"jpg", "jpeg", "png", "bmp", "gif", "tga"})
        if (ext == e) return true;
    return false;
}

std::string class_name_from_folder(const std::string& folder) {
    std::string s = folder;
    std::replace(s.begin(), s.end(), '_', ' ');
    return s;
}

std::vector<std::string> read_class_names(const std::string& path) {
    std::vector<std::string> lines = read_text_lines(path);
    for (std::string& l : lines) l = trim_blanks(l);
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    for (size_t i = 0; i < lines.size(); i++)
        if (lines[i].empty())
            fail("%s:%zu: empty line; the file lists one class name per line, in sorted folder order", path.c_str(),
                 i + 1);
    if (lines.empty()) fail("%s: no class names (one per line, in sorted folder order)", path.c_str());
    return lines;
}

// The entries of folder `dir` (no "." and ".."), sorted by name. Errors name the folder.
static std::vector<std::string> list_dir(const std::string& dir) {
    DIR* d = opendir(dir.c_str());
    if (!d) fail("%s: cannot open the folder", dir.c_str());
    std::vector<std::string> names;
    while (struct dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

struct Walk {
    ImageFolder& f;
    std::set<std::pair<dev_t, ino_t>> seen;  // folders already walked (a link loop is walked once)

    void skip(const std::string& path) {
        f.skipped++;
        if (f.skipped_examples.size() < 3) f.skipped_examples.push_back(path);
    }
    // Python's sorted(os.walk(...)): every folder's (path, sorted files), ordered by path.
    void collect(const std::string& dir, int depth, std::vector<std::pair<std::string, std::vector<std::string>>>& out) {
        struct stat st;
        if (stat(dir.c_str(), &st) != 0) fail("%s: cannot read", dir.c_str());
        if (!seen.insert({st.st_dev, st.st_ino}).second || depth > 32) return;
        out.push_back({dir, {}});
        const size_t me = out.size() - 1;
        for (const std::string& name : list_dir(dir)) {
            const std::string p = dir + "/" + name;
            struct stat es;
            if (name[0] == '.' || stat(p.c_str(), &es) != 0) {  // hidden, or a dangling link
                skip(p);
                continue;
            }
            if (S_ISDIR(es.st_mode)) collect(p, depth + 1, out);
            else if (S_ISREG(es.st_mode) && is_image_file_name(name)) out[me].second.push_back(name);
            else skip(p);
        }
    }
};

ImageFolder read_image_folder(const std::string& dir, const std::vector<std::string>* class_names,
                              const std::string& class_names_file) {
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) fail("%s: no such folder (--images takes a folder with one sub-folder per class)", dir.c_str());
    if (!S_ISDIR(st.st_mode))
        fail("%s: is %s, not a folder (--images takes a folder with one sub-folder per class)", dir.c_str(),
             file_type_name(st.st_mode));
    ImageFolder f;
    f.root = dir;
    Walk walk{f, {}};
    walk.seen.insert({st.st_dev, st.st_ino});
    for (const std::string& name : list_dir(dir)) {
        const std::string p = dir + "/" + name;
        struct stat es;
        if (name[0] != '.' && stat(p.c_str(), &es) == 0 && S_ISDIR(es.st_mode)) f.folders.push_back(name);
        else walk.skip(p);
    }
    if (f.folders.empty())
        fail("%s: no class folders (an ImageFolder holds one sub-folder per class, images inside)", dir.c_str());
    const int C = (int)f.folders.size();
    if (class_names) {
        if ((int)class_names->size() != C)
            fail("%s: %zu class names for %d class folders in %s (one name per line, in sorted folder order: %s%s)",
                 class_names_file.c_str(), class_names->size(), C, dir.c_str(), f.folders[0].c_str(),
                 C > 1 ? (", " + f.folders[1] + (C > 2 ? ", ..." : "")).c_str() : "");
        f.classes = *class_names;
    } else {
        for (auto& folder : f.folders) f.classes.push_back(class_name_from_folder(folder));
    }
    std::map<std::string, int> by_name;
    for (int c = 0; c < C; c++) {
        auto ins = by_name.emplace(f.classes[c], c);
        if (!ins.second)
            fail("%s: class folders '%s' and '%s' have the same class name '%s'%s", dir.c_str(),
                 f.folders[ins.first->second].c_str(), f.folders[c].c_str(), f.classes[c].c_str(),
                 class_names ? (" (from " + class_names_file + ")").c_str() : " ('_' reads as a space)");
    }
    f.count.assign(C, 0);
    for (int c = 0; c < C; c++) {
        std::vector<std::pair<std::string, std::vector<std::string>>> folders;
        walk.seen = {{st.st_dev, st.st_ino}};  // per class: a class folder linked to another is walked again
        walk.collect(dir + "/" + f.folders[c], 0, folders);
        std::sort(folders.begin(), folders.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        for (auto& fo : folders)
            for (auto& name : fo.second) {
                f.paths.push_back(fo.first + "/" + name);
                f.label.push_back(c);
                f.count[c]++;
            }
        if (f.count[c] == 0)
            fail("%s/%s: class folder without images (images are .jpg .jpeg .png .bmp .gif .tga files); remove "
                 "the folder or add its images",
                 dir.c_str(), f.folders[c].c_str());
    }
    return f;
}

}  // namespace reco
