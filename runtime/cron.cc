#include "runtime/cron.h"

#include <algorithm>
#include <bit>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace sluice {
namespace {

// kMaxGapDays bounds the days between two consecutive matching dates of a
// schedule that Parse accepts (about 8 years), and so how far Next searches.
// Plain February 29 ("0 0 29 2 *") needs 2921: 2096-02-29 to 2104-02-29.
constexpr int64_t kMaxGapDays = 8 * 366;

// kCycleDays is the length of the Gregorian calendar's 400-year cycle, a
// whole number of weeks, after which dates repeat with the same weekdays.
constexpr int64_t kCycleDays = 146097;

// Bit sets of the day fields: every day of a month (bits 1-31), the days
// that every month has (1-28), and every day of the week (bits 0-6).
constexpr uint64_t kAllDays = ((uint64_t{1} << 32) - 1) & ~uint64_t{1};
constexpr uint64_t kFirst28Days = ((uint64_t{1} << 29) - 1) & ~uint64_t{1};
constexpr uint64_t kAllWeekdays = (uint64_t{1} << 7) - 1;

constexpr absl::string_view kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                             "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr absl::string_view kWeekdayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

// Field describes one of the five fields of an expression.
struct Field {
  absl::string_view name;
  int min;
  int max;
  // names[i] is another spelling of min + i (empty: numbers only).
  const absl::string_view* names;
  int name_count;
  absl::string_view name_kind;  // "month name", for messages
  bool allows_question;
};

constexpr Field kMinute = {"minute", 0, 59, nullptr, 0, "", false};
constexpr Field kHour = {"hour", 0, 23, nullptr, 0, "", false};
constexpr Field kDayOfMonth = {"day-of-month", 1, 31, nullptr, 0, "", true};
constexpr Field kMonth = {"month", 1, 12, kMonthNames, 12, "month name", false};
constexpr Field kDayOfWeek = {"day-of-week", 0, 7, kWeekdayNames, 7, "day name", true};

struct Macro {
  absl::string_view name;
  absl::string_view expansion;
};

constexpr Macro kMacros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

absl::Status FieldError(const Field& field, absl::string_view token, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field.name, " \"", token, "\" ", problem));
}

// ParseNumber parses a non-empty string of decimal digits, saturating at a
// value above every field's range. nullopt when `token` is not one.
std::optional<int> ParseNumber(absl::string_view token) {
  if (token.empty()) return std::nullopt;
  int value = 0;
  for (char c : token) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value = std::min(value * 10 + (c - '0'), 1000);
  }
  return value;
}

// ParseValue parses one value of `field`: a number in range or a name.
absl::StatusOr<int> ParseValue(const Field& field, absl::string_view token) {
  if (std::optional<int> number = ParseNumber(token); number.has_value()) {
    if (*number < field.min || *number > field.max) {
      return FieldError(field, token, absl::StrCat("is out of range ", field.min, "-", field.max));
    }
    return *number;
  }
  for (int i = 0; i < field.name_count; ++i) {
    if (absl::EqualsIgnoreCase(token, field.names[i])) return field.min + i;
  }
  if (field.name_count > 0) {
    return FieldError(field, token, absl::StrCat("is not a number or a ", field.name_kind));
  }
  return FieldError(field, token, "is not a number");
}

// ParseElement adds to `bits` the values of one list element of `field`:
// "*", "a", "a-b", each optionally followed by "/step".
absl::Status ParseElement(const Field& field, absl::string_view element, uint64_t& bits) {
  absl::string_view base = element;
  int step = 1;
  bool stepped = false;
  if (size_t slash = element.find('/'); slash != absl::string_view::npos) {
    base = element.substr(0, slash);
    absl::string_view step_text = element.substr(slash + 1);
    if (absl::StrContains(step_text, '/')) {
      return FieldError(field, element, "has more than one step");
    }
    if (base.empty()) return FieldError(field, element, "has no value before the step");
    std::optional<int> number = ParseNumber(step_text);
    if (!number.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field.name, " step \"", step_text, "\" is not a number"));
    }
    if (*number < 1 || *number > field.max) {
      return absl::InvalidArgumentError(
          absl::StrCat(field.name, " step \"", step_text, "\" is out of range 1-", field.max));
    }
    step = *number;
    stepped = true;
  }
  int lo = field.min;
  int hi = field.max;
  if (base == "?") {
    return FieldError(field, element, "uses \"?\", which must be the whole field");
  } else if (base != "*") {
    std::vector<absl::string_view> ends = absl::StrSplit(base, '-');
    if (ends.size() > 2 || (ends.size() == 2 && (ends[0].empty() || ends[1].empty()))) {
      return FieldError(field, base, "is not a valid range");
    }
    absl::StatusOr<int> first = ParseValue(field, ends[0]);
    if (!first.ok()) return first.status();
    lo = *first;
    hi = stepped ? field.max : lo;
    if (ends.size() == 2) {
      absl::StatusOr<int> last = ParseValue(field, ends[1]);
      if (!last.ok()) return last.status();
      hi = *last;
      if (lo > hi) {
        return absl::InvalidArgumentError(
            absl::StrCat(field.name, " range \"", base, "\" is reversed"));
      }
    }
  }
  for (int v = lo; v <= hi; v += step) bits |= uint64_t{1} << v;
  return absl::OkStatus();
}

// ParseField returns the set of values of `field` that `text` selects, bit v
// for value v.
absl::StatusOr<uint64_t> ParseField(const Field& field, absl::string_view text) {
  if (text == "?") {
    if (!field.allows_question) {
      return FieldError(field, text, "is only allowed in day-of-month and day-of-week");
    }
    text = "*";
  }
  uint64_t bits = 0;
  for (absl::string_view element : absl::StrSplit(text, ',')) {
    if (element.empty()) return FieldError(field, text, "has an empty list element");
    if (absl::Status s = ParseElement(field, element, bits); !s.ok()) return s;
  }
  return bits;
}

// IsZoneName tells whether `name` looks like an IANA zone name
// ("America/Argentina/Buenos_Aires", "Etc/GMT+5"). The time zone library also
// takes file paths and "localtime", which would make a schedule depend on
// the machine that reads it.
bool IsZoneName(absl::string_view name) {
  if (name.empty() || name.size() > 255 || name == "localtime") return false;
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part.empty()) return false;
    for (char c : part) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '+') {
        return false;
      }
    }
  }
  return true;
}

// NextBit returns the lowest set bit of `bits` at or above `from`, -1 when
// there is none.
int NextBit(uint64_t bits, int from) {
  const uint64_t above = bits >> from;
  return above == 0 ? -1 : from + std::countr_zero(above);
}

// CronWeekday returns cron's number of `day`'s weekday, 0 (Sunday) to 6.
int CronWeekday(absl::CivilDay day) {
  // absl::Weekday counts from Monday = 0.
  return (static_cast<int>(absl::GetWeekday(day)) + 1) % 7;
}

}  // namespace

absl::StatusOr<CronSchedule> CronSchedule::Parse(std::string_view expression_arg,
                                                 std::string_view time_zone_arg) {
  // This abseil's string_view is its own type, not std::string_view.
  const absl::string_view expression(expression_arg.data(), expression_arg.size());
  const absl::string_view time_zone(time_zone_arg.data(), time_zone_arg.size());
  const auto invalid = [expression](absl::string_view problem) {
    return absl::InvalidArgumentError(
        absl::StrCat("cron expression \"", expression, "\": ", problem));
  };
  CronSchedule schedule;
  schedule.expression_ = std::string(expression);

  absl::string_view text = absl::StripAsciiWhitespace(expression);
  if (absl::StartsWith(text, "@")) {
    const Macro* macro = std::find_if(std::begin(kMacros), std::end(kMacros), [&](const Macro& m) {
      return absl::EqualsIgnoreCase(m.name, text);
    });
    if (macro == std::end(kMacros)) {
      return invalid(absl::StrCat("unknown macro \"", text,
                                  "\" (expected @yearly, @annually, @monthly, @weekly, @daily, "
                                  "@midnight or @hourly)"));
    }
    text = macro->expansion;
  }
  const std::vector<absl::string_view> fields =
      absl::StrSplit(text, absl::ByAnyChar(" \t\n\r\f\v"), absl::SkipEmpty());
  if (fields.size() != 5) {
    return invalid(absl::StrCat(
        "expected 5 fields (minute hour day-of-month month day-of-week), got ", fields.size()));
  }
  const Field* const kinds[] = {&kMinute, &kHour, &kDayOfMonth, &kMonth, &kDayOfWeek};
  uint64_t bits[5];
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<uint64_t> field = ParseField(*kinds[i], fields[i]);
    if (!field.ok()) return invalid(field.status().message());
    bits[i] = *field;
  }
  schedule.minutes_ = bits[0];
  schedule.hours_ = static_cast<uint32_t>(bits[1]);
  schedule.days_ = static_cast<uint32_t>(bits[2]);
  schedule.months_ = static_cast<uint16_t>(bits[3]);
  // Day of week 7 is Sunday, 0.
  schedule.weekdays_ = static_cast<uint8_t>((bits[4] | bits[4] >> 7) & 0x7f);
  const auto restricted = [](absl::string_view field) {
    return field[0] != '*' && field[0] != '?';
  };
  schedule.day_or_weekday_ = restricted(fields[2]) && restricted(fields[4]);

  if (time_zone.empty() || time_zone == "UTC") {
    schedule.time_zone_ = "UTC";
    schedule.zone_ = absl::UTCTimeZone();
  } else if (!IsZoneName(time_zone) ||
             !absl::LoadTimeZone(std::string(time_zone), &schedule.zone_)) {
    return invalid(absl::StrCat("unknown time zone \"", time_zone, "\""));
  } else {
    schedule.time_zone_ = std::string(time_zone);
  }

  // Every matching date has a fire time (the minute and hour sets are never
  // empty), so the gaps between fire times are those between matching dates.
  // When every matching month has a matching day in each of its weeks, or
  // whatever its length, those are at most about a year; check the other
  // schedules over a whole cycle of dates.
  const bool weekly = schedule.day_or_weekday_ || schedule.days_ == kAllDays;
  const bool monthly = schedule.weekdays_ == kAllWeekdays && (schedule.days_ & kFirst28Days) != 0;
  if (!weekly && !monthly) {
    const std::string days = absl::StrCat("day-of-month \"", fields[2], "\", month \"", fields[3],
                                          "\" and day-of-week \"", fields[4], "\"");
    const std::optional<int64_t> longest_gap = schedule.LongestGapDays();
    if (!longest_gap.has_value()) {
      return invalid(absl::StrCat("never fires: no date matches ", days));
    }
    if (*longest_gap > kMaxGapDays) {
      return invalid(absl::StrCat("fires too rarely: dates matching ", days,
                                  " can be more than 8 years apart"));
    }
  }
  return schedule;
}

std::optional<int64_t> CronSchedule::LongestGapDays() const {
  // Dates repeat every 400 years, so the gaps over one cycle, counting the
  // one from its last matching date to the next cycle's first, are all.
  const absl::CivilDay cycle_start(2000, 1, 1);
  std::optional<int64_t> first_match;
  int64_t last_match = 0;
  int64_t longest_gap = 0;
  for (absl::CivilMonth month(cycle_start); month < absl::CivilMonth(2400, 1); ++month) {
    if ((months_ >> month.month() & 1) == 0) continue;
    const absl::CivilDay first_day(month);
    const int length = static_cast<int>(absl::CivilDay(month + 1) - first_day);
    const int first_weekday = CronWeekday(first_day);
    // Unless either day field may match, only days in the day-of-month set can.
    uint64_t candidates = day_or_weekday_ ? kAllDays : days_;
    candidates &= (uint64_t{2} << length) - 1;
    for (int day = NextBit(candidates, 1); day >= 0; day = NextBit(candidates, day + 1)) {
      if (!MatchesDayOfMonthAndWeek(day, (first_weekday + day - 1) % 7)) continue;
      const int64_t index = (first_day - cycle_start) + day - 1;
      if (first_match.has_value()) {
        longest_gap = std::max(longest_gap, index - last_match);
      } else {
        first_match = index;
      }
      last_match = index;
    }
  }
  if (!first_match.has_value()) return std::nullopt;
  return std::max(longest_gap, *first_match + kCycleDays - last_match);
}

bool CronSchedule::MatchesDay(absl::CivilDay day) const {
  return (months_ >> day.month() & 1) != 0 && MatchesDayOfMonthAndWeek(day.day(), CronWeekday(day));
}

bool CronSchedule::MatchesDayOfMonthAndWeek(int day, int weekday) const {
  const bool day_matches = (days_ >> day & 1) != 0;
  const bool weekday_matches = (weekdays_ >> weekday & 1) != 0;
  return day_or_weekday_ ? day_matches || weekday_matches : day_matches && weekday_matches;
}

absl::Time CronSchedule::Next(absl::Time after) const {
  if (after == absl::InfiniteFuture() || after == absl::InfinitePast()) return after;
  // The fire time of a matching local minute is the first instant at which
  // the local clock reads that minute or later, so fire times grow with
  // local time. Every local minute before the one that the clock reads at
  // `after` has fired by then; search forward from that minute for the first
  // matching one that fires after `after`. Past a backward clock change that
  // is up to a few matching minutes that fired the first time round.
  const absl::CivilDay last_day = absl::ToCivilDay(after, zone_) + kMaxGapDays + 2;
  absl::CivilMinute minute = absl::ToCivilMinute(after, zone_);
  while (absl::CivilDay(minute) <= last_day) {
    if ((months_ >> minute.month() & 1) == 0) {
      minute = absl::CivilMinute(absl::CivilMonth(minute) + 1);
      continue;
    }
    if (!MatchesDay(absl::CivilDay(minute))) {
      minute = absl::CivilMinute(absl::CivilDay(minute) + 1);
      continue;
    }
    const int hour = NextBit(hours_, minute.hour());
    if (hour < 0) {
      minute = absl::CivilMinute(absl::CivilDay(minute) + 1);
      continue;
    }
    if (hour != minute.hour()) {
      minute = absl::CivilMinute(minute.year(), minute.month(), minute.day(), hour, 0);
    }
    const int next_minute = NextBit(minutes_, minute.minute());
    if (next_minute < 0) {
      minute = absl::CivilMinute(absl::CivilHour(minute) + 1);
      continue;
    }
    minute = absl::CivilMinute(minute.year(), minute.month(), minute.day(), hour, next_minute);
    const absl::TimeZone::TimeInfo info = zone_.At(minute);
    // A skipped minute fires when the gap ends; a repeated one the first time.
    const absl::Time fire = info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre;
    if (fire > after) return fire;
    ++minute;
  }
  return absl::InfiniteFuture();
}

}  // namespace sluice
