// image_folder.h — the torchvision ImageFolder layout read by `reco eval zeroshot --images DIR`.
//
//   DIR/<class>/<image>      one sub-folder per class; classes are the sub-folder names in sorted order
//                            (byte order, as Python's sorted()), their index is their position there
//   DIR/<class>/a/b/<image>  images may sit deeper (torchvision walks each class folder with os.walk,
//                            following links); order: folders sorted by path, files sorted in each
//
// As torchvision.datasets.ImageFolder (find_classes + make_dataset), with these choices:
//   - an image is a file whose extension (any case) is one this build decodes: .jpg .jpeg .png .bmp
//     .gif .tga. Other files (README.txt, .webp, .tif) are skipped and counted, never fatal; so are
//     names starting with '.' (.DS_Store, ._x.jpg resource forks, .ipynb_checkpoints/), which
//     torchvision would take as a class or an image;
//   - files directly in DIR are skipped and counted (torchvision ignores them);
//   - a class folder with no image is an error naming it (torchvision raises too);
//   - class names: the folder name with '_' → ' ' ("sea_lion" → "sea lion"), or given one per line in
//     sorted folder order (--classes); two classes with the same name are an error naming both folders.
#pragma once
#include <string>
#include <vector>

namespace reco {

struct ImageFolder {
    std::string root;                  // DIR as given
    std::vector<std::string> folders;  // [C] class sub-folder names, sorted
    std::vector<std::string> classes;  // [C] class names (display and prompts)
    std::vector<std::string> paths;    // [n] image files, class by class; root + "/" + relative path
    std::vector<int> label;            // [n] class index of each image
    std::vector<int> count;            // [C] images per class
    int skipped = 0;                   // files and folders skipped (not images, hidden, directly in DIR)
    std::vector<std::string> skipped_examples;  // the first few skipped paths, for the note
};

// True when `name` has an extension this build decodes (case-insensitive).
bool is_image_file_name(const std::string& name);

// "sea_lion" → "sea lion".
std::string class_name_from_folder(const std::string& folder);

// Read the class names file given to --classes: one name per line, surrounding spaces and "\r" removed,
// a UTF-8 BOM ignored, trailing empty lines ignored. An empty line among the names is an error naming
// the file and line.
std::vector<std::string> read_class_names(const std::string& path);

// Scan DIR. class_names: null → from the folder names; else one per class folder in sorted order (the
// error names `class_names_file` and both counts when they differ). Throws reco::Error: DIR missing or not
// a folder, no class folder, an empty class folder, duplicate class names.
ImageFolder read_image_folder(const std::string& dir, const std::vector<std::string>* class_names = nullptr,
                              const std::string& class_names_file = "");

}  // namespace reco
