// memory_split.h — write a memory as a directory of shards (SPEC §9): `reco memory split`.
//
// The shards are out_dir/shard-00000.safetensors, shard-00001..., so their lexical order is their
// order in the memory; shard p holds rows dist::share(N, p, P) of the source, the fp16 rows copied
// bit for bit (never re-normalised), with their captions and the source's model/family metadata.
// The directory is created when missing; one that already holds memory files is refused (the new
// shards would mix with them). Each shard is written atomically.
#pragma once
#include <cstdio>
#include <string>

namespace reco {

class ShardedMemory;

// The name of shard p (of any count) in a directory: "shard-%05d.safetensors".
std::string shard_file_name(int p);

// Split `src` (a file or a sharded directory) into `parts` shards in out_dir. Errors: parts < 1,
// parts > rows, out_dir not a directory or already holding memory files. Notes each shard on log.
void split_memory(const ShardedMemory& src, int parts, const std::string& out_dir, FILE* log);

// Create the directory when missing (one level); error naming it when it cannot be, or when it holds
// memory files already.
void prepare_shard_dir(const std::string& out_dir);

}  // namespace reco
