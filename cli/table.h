// Plain-text tables for list commands.
#pragma once

#include <string>
#include <vector>

namespace sluice::cli {

// RenderTable lays out `header` and `rows` in left-aligned columns separated
// by two spaces, one line each, with no trailing spaces. Widths count bytes.
// A row shorter than the header leaves its last columns empty; cells beyond
// the header are dropped.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

}  // namespace sluice::cli
