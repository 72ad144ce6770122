// Plain-text table layout.
#include "cli/table.h"

#include <algorithm>

namespace sluice::cli {
namespace {

void AppendLine(const std::vector<std::string>& cells, const std::vector<size_t>& widths,
                std::string& out) {
  std::string line;
  for (size_t column = 0; column < widths.size(); ++column) {
    const std::string empty;
    const std::string& cell = column < cells.size() ? cells[column] : empty;
    if (column > 0) line.append(2, ' ');
    line += cell;
    line.append(widths[column] - cell.size(), ' ');
  }
  line.erase(line.find_last_not_of(' ') + 1);
  out += line;
  out += '\n';
}

}  // namespace

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const std::string& title : header) widths.push_back(title.size());
  for (const std::vector<std::string>& row : rows) {
    for (size_t column = 0; column < std::min(row.size(), widths.size()); ++column) {
      widths[column] = std::max(widths[column], row[column].size());
    }
  }
  std::string out;
  AppendLine(header, widths, out);
  for (const std::vector<std::string>& row : rows) AppendLine(row, widths, out);
  return out;
}

}  // namespace sluice::cli
