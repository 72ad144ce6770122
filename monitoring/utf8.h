// UTF-8 checks shared by everything that cleans text for logs and
// progress messages.
#pragma once

#include <cstddef>
#include <string_view>

namespace sluice {

// Utf8Length returns the length (1 to 4) of the well-formed UTF-8 character
// at the start of `text`, which must not be empty, or 0 when none starts
// there: a stray continuation byte, a cut sequence, an overlong form, a
// surrogate, or a code point above U+10FFFF.
size_t Utf8Length(std::string_view text);

}  // namespace sluice
