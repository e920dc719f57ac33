// A dataset directory: manifest.json plus HDF5 shard files, one set per split.
//
//   DIR/manifest.json                 what is in the dataset (docs/formats.md)
//   DIR/train-00000-of-00004.h5       split "train", shard 0 of 4
//   DIR/test-00000-of-00001.h5 ...
//
// Inside a shard: /samples (N, C, H, W) uint8 or float32, and /labels (N,)
// int32 for classification or /targets (N, T) float32 for regression. Every
// dataset is chunked along N with the Fletcher32 filter. Shards of a split are
// consecutive ranges of the split's global sample index, so the global index
// of a sample is shard.first_index + row. The manifest records each shard's
// sample count and SHA-256 so that `hpcnn data verify` can tell a damaged or
// swapped shard by name.
//
// The code is in three parts: dataset_manifest.hpp (the manifest, its limits
// and checksums), dataset_writer.hpp (write_split) and dataset_reader.hpp
// (SplitReader); this header includes all three.
#pragma once

#include "data/dataset_manifest.hpp"
#include "data/dataset_reader.hpp"
#include "data/dataset_writer.hpp"
