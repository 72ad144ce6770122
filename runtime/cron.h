// CronSchedule: cron expressions ("30 2 * * mon-fri", "@daily") evaluated in
// an IANA time zone, for functions that run on a schedule. Parse checks an
// expression once; Next then answers "when does it fire next?" for any
// instant, with daylight saving time handled the way Vixie cron handles it.
//
// Example:
//   absl::StatusOr<CronSchedule> schedule =
//       CronSchedule::Parse("0 9 * * mon-fri", "Europe/Berlin");
//   if (!schedule.ok()) return schedule.status();
//   absl::Time fire = schedule->Next(clock->Now());
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sluice {

// CronSchedule is a parsed cron expression in a time zone. It is an
// immutable value: thread-safe, cheap to copy, and valid on its own (it keeps
// no reference to the strings it was parsed from).
class CronSchedule {
 public:
  // Parse parses `expression` in the time zone named `time_zone`.
  //
  // `expression` is either five fields separated by blanks,
  //   minute (0-59)  hour (0-23)  day-of-month (1-31)  month (1-12)  day-of-week (0-7)
  // or one of the macros @yearly and @annually ("0 0 1 1 *"), @monthly
  // ("0 0 1 * *"), @weekly ("0 0 * * 0"), @daily and @midnight ("0 0 * * *"),
  // @hourly ("0 * * * *"). A field is '*' or a comma-separated list of
  // elements, each a value "a", a range "a-b", or a stepped "*/n", "a-b/n" or
  // "a/n" (a, a+n, a+2n, ... up to the field's maximum); a step is 1 to the
  // field's maximum. Months may be named jan-dec and days of the week
  // sun-sat (case-insensitive, also in ranges); day-of-week 0 and 7 are both
  // Sunday. A day-of-month or day-of-week field of just '?' means '*'.
  //
  // A day fires when its month matches and, if both day-of-month and
  // day-of-week are restricted (neither field starts with '*' or '?'),
  // EITHER of them matches; otherwise when both match (the Vixie cron rule:
  // "0 0 13 * fri" fires on every 13th and every Friday).
  //
  // `time_zone` is an IANA zone name such as "America/New_York", loaded from
  // the system's time zone database; "" and "UTC" mean UTC.
  //
  // INVALID_ARGUMENT, with a message that quotes the expression and names the
  // field and the bad token (`cron expression "61 * * * *": minute "61" is
  // out of range 0-59`), for: a wrong number of fields, an unknown macro, a
  // malformed, out-of-range or unknown value, a step out of range, a
  // reversed range, an unknown time zone, and an expression whose matching
  // dates never occur ("0 0 30 2 *") or can be more than 8 years apart
  // ("0 0 29 2 */6": February 29 falling on a weekend).
  static absl::StatusOr<CronSchedule> Parse(std::string_view expression,
                                            std::string_view time_zone);

  // Next returns the first fire time strictly after `after`.
  //
  // Fire times are the whole minutes of local time in the schedule's zone
  // that match the expression, mapped to instants thus: a local time that a
  // forward clock change skips fires once, at the instant the change happens
  // (so "30 2 * * *" fires at 03:00 on the morning New York springs forward,
  // and a schedule matching several skipped minutes fires only once then);
  // a local time that a backward clock change repeats fires once, at its
  // first occurrence.
  //
  // A parsed schedule fires at least once in every 8 years, so Next always
  // finds a time, except that it returns absl::InfiniteFuture() when the
  // next fire time lies beyond absl::Time's range or `after` is
  // absl::InfiniteFuture(). For absl::InfinitePast() it returns
  // absl::InfinitePast().
  absl::Time Next(absl::Time after) const;

  // expression returns the expression as given to Parse.
  const std::string& expression() const { return expression_; }

  // time_zone returns the zone's name as given to Parse, "UTC" for "".
  const std::string& time_zone() const { return time_zone_; }

 private:
  CronSchedule() = default;

  // MatchesDay tells whether `day` matches the month, day-of-month and
  // day-of-week fields.
  bool MatchesDay(absl::CivilDay day) const;

  // MatchesDayOfMonthAndWeek tells whether day of month `day` (1-31) that is
  // a `weekday` (0 = Sunday to 6) matches, under the rule described at Parse.
  bool MatchesDayOfMonthAndWeek(int day, int weekday) const;

  // LongestGapDays returns the most days from one matching date to the next,
  // nullopt when no date matches.
  std::optional<int64_t> LongestGapDays() const;

  // Constant after Parse.
  std::string expression_;
  std::string time_zone_;
  absl::TimeZone zone_;
  uint64_t minutes_ = 0;         // bit m: minute m matches, 0-59
  uint32_t hours_ = 0;           // bit h: hour h matches, 0-23
  uint32_t days_ = 0;            // bit d: day of month d matches, 1-31
  uint16_t months_ = 0;          // bit m: month m matches, 1-12
  uint8_t weekdays_ = 0;         // bit d: day of week d matches, 0 (Sunday)-6
  bool day_or_weekday_ = false;  // both day fields restricted: either matches
};

}  // namespace sluice
