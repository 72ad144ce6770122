#include "runtime/cron.h"

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;

constexpr char kLocal[] = "%Y-%m-%d %H:%M";
constexpr char kLocalWithOffset[] = "%Y-%m-%d %H:%M %Ez";

absl::TimeZone Zone(const std::string& name) {
  absl::TimeZone zone;
  EXPECT_TRUE(absl::LoadTimeZone(name, &zone)) << name;
  return zone;
}

// Fires returns the first `count` fire times of `expression` in `zone` after
// the local time `after`, formatted in `zone` with `format`, or the parse
// error.
std::vector<std::string> Fires(std::string_view expression, std::string_view zone,
                               absl::CivilSecond after, int count, const char* format = kLocal) {
  absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(expression, zone);
  if (!schedule.ok()) return {std::string(schedule.status().message())};
  const absl::TimeZone tz = Zone(schedule->time_zone());
  std::vector<std::string> fires;
  absl::Time t = absl::FromCivil(after, tz);
  for (int i = 0; i < count; ++i) {
    t = schedule->Next(t);
    fires.push_back(absl::FormatTime(format, t, tz));
  }
  return fires;
}

// Utc returns the instant of a UTC civil time.
absl::Time Utc(int y, int mo, int d, int h, int mi, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

const absl::CivilSecond kNewYear2026(2026, 1, 1, 0, 0, 0);  // a Thursday

TEST(CronScheduleTest, EveryMinuteFiresAtTheNextWholeMinute) {
  EXPECT_THAT(Fires("* * * * *", "", absl::CivilSecond(2026, 1, 1, 0, 0, 30), 3),
              ElementsAre("2026-01-01 00:01", "2026-01-01 00:02", "2026-01-01 00:03"));
}

TEST(CronScheduleTest, NextIsStrictlyAfterItsArgument) {
  absl::StatusOr<CronSchedule> hourly = CronSchedule::Parse("0 * * * *", "");
  ASSERT_TRUE(hourly.ok()) << hourly.status();
  EXPECT_EQ(hourly->Next(Utc(2026, 1, 1, 5, 0)), Utc(2026, 1, 1, 6, 0));
  EXPECT_EQ(hourly->Next(Utc(2026, 1, 1, 5, 0) - absl::Nanoseconds(1)), Utc(2026, 1, 1, 5, 0));
  EXPECT_EQ(hourly->Next(Utc(2026, 1, 1, 5, 59, 59)), Utc(2026, 1, 1, 6, 0));
}

TEST(CronScheduleTest, ParsesValuesListsAndRanges) {
  EXPECT_THAT(
      Fires("5,10,15 * * * *", "", kNewYear2026, 4),
      ElementsAre("2026-01-01 00:05", "2026-01-01 00:10", "2026-01-01 00:15", "2026-01-01 01:05"));
  EXPECT_THAT(
      Fires("10-12 * * * *", "", kNewYear2026, 4),
      ElementsAre("2026-01-01 00:10", "2026-01-01 00:11", "2026-01-01 00:12", "2026-01-01 01:10"));
  EXPECT_THAT(
      Fires("0 22-23,1 * * *", "", kNewYear2026, 4),
      ElementsAre("2026-01-01 01:00", "2026-01-01 22:00", "2026-01-01 23:00", "2026-01-02 01:00"));
  EXPECT_THAT(Fires("07 09 05 03 *", "", kNewYear2026, 2),
              ElementsAre("2026-03-05 09:07", "2027-03-05 09:07"));
}

TEST(CronScheduleTest, ParsesSteps) {
  EXPECT_THAT(Fires("*/20 * * * *", "", kNewYear2026, 3),
              ElementsAre("2026-01-01 00:20", "2026-01-01 00:40", "2026-01-01 01:00"));
  EXPECT_THAT(Fires("*/25 * * * *", "", kNewYear2026, 3),
              ElementsAre("2026-01-01 00:25", "2026-01-01 00:50", "2026-01-01 01:00"));
  EXPECT_THAT(
      Fires("10-30/10 * * * *", "", kNewYear2026, 4),
      ElementsAre("2026-01-01 00:10", "2026-01-01 00:20", "2026-01-01 00:30", "2026-01-01 01:10"));
  // "a/n" runs from a to the field's maximum.
  EXPECT_THAT(Fires("50/5 * * * *", "", kNewYear2026, 3),
              ElementsAre("2026-01-01 00:50", "2026-01-01 00:55", "2026-01-01 01:50"));
  EXPECT_THAT(
      Fires("0 */6 * * *", "", kNewYear2026, 4),
      ElementsAre("2026-01-01 06:00", "2026-01-01 12:00", "2026-01-01 18:00", "2026-01-02 00:00"));
  EXPECT_THAT(
      Fires("0 0 */10 * *", "", kNewYear2026, 4),
      ElementsAre("2026-01-11 00:00", "2026-01-21 00:00", "2026-01-31 00:00", "2026-02-01 00:00"));
  EXPECT_THAT(Fires("0 0 1 */5 *", "", kNewYear2026, 3),
              ElementsAre("2026-06-01 00:00", "2026-11-01 00:00", "2027-01-01 00:00"));
}

TEST(CronScheduleTest, ParsesMixedListElements) {
  EXPECT_THAT(Fires("1,10-12,*/30 * * * *", "", kNewYear2026, 6),
              ElementsAre("2026-01-01 00:01", "2026-01-01 00:10", "2026-01-01 00:11",
                          "2026-01-01 00:12", "2026-01-01 00:30", "2026-01-01 01:00"));
}

TEST(CronScheduleTest, ParsesMonthNamesInAnyCase) {
  EXPECT_THAT(Fires("0 0 1 JAN,Jul *", "", kNewYear2026, 3),
              ElementsAre("2026-07-01 00:00", "2027-01-01 00:00", "2027-07-01 00:00"));
  EXPECT_THAT(
      Fires("0 0 1 jan-dec/3 *", "", kNewYear2026, 4),
      ElementsAre("2026-04-01 00:00", "2026-07-01 00:00", "2026-10-01 00:00", "2027-01-01 00:00"));
  EXPECT_EQ(Fires("0 0 1 feb-APR *", "", kNewYear2026, 4),
            Fires("0 0 1 2-4 *", "", kNewYear2026, 4));
}

TEST(CronScheduleTest, ParsesDayNamesInAnyCase) {
  EXPECT_THAT(
      Fires("0 9 * * Mon-FRI", "", kNewYear2026, 4),
      ElementsAre("2026-01-01 09:00", "2026-01-02 09:00", "2026-01-05 09:00", "2026-01-06 09:00"));
  EXPECT_THAT(Fires("0 0 * * SAT,sun", "", kNewYear2026, 3),
              ElementsAre("2026-01-03 00:00", "2026-01-04 00:00", "2026-01-10 00:00"));
}

TEST(CronScheduleTest, DayOfWeekZeroAndSevenAreSunday) {
  const std::vector<std::string> sundays = {"2026-01-04 00:00", "2026-01-11 00:00",
                                            "2026-01-18 00:00"};
  EXPECT_EQ(Fires("0 0 * * 0", "", kNewYear2026, 3), sundays);
  EXPECT_EQ(Fires("0 0 * * 7", "", kNewYear2026, 3), sundays);
  EXPECT_EQ(Fires("0 0 * * sun", "", kNewYear2026, 3), sundays);
  EXPECT_THAT(
      Fires("0 0 * * 5-7", "", kNewYear2026, 4),
      ElementsAre("2026-01-02 00:00", "2026-01-03 00:00", "2026-01-04 00:00", "2026-01-09 00:00"));
}

TEST(CronScheduleTest, QuestionMarkMeansAnyDay) {
  EXPECT_THAT(Fires("0 0 ? * mon", "", kNewYear2026, 2),
              ElementsAre("2026-01-05 00:00", "2026-01-12 00:00"));
  EXPECT_THAT(Fires("0 0 15 * ?", "", kNewYear2026, 2),
              ElementsAre("2026-01-15 00:00", "2026-02-15 00:00"));
}

TEST(CronScheduleTest, EitherDayFieldMatchesWhenBothAreRestricted) {
  // Every 13th and every Friday; 2026-02-13 is both and fires once.
  EXPECT_THAT(Fires("0 0 13 * fri", "", kNewYear2026, 9),
              ElementsAre("2026-01-02 00:00", "2026-01-09 00:00", "2026-01-13 00:00",
                          "2026-01-16 00:00", "2026-01-23 00:00", "2026-01-30 00:00",
                          "2026-02-06 00:00", "2026-02-13 00:00", "2026-02-20 00:00"));
  EXPECT_THAT(Fires("0 0 1-3 * sun", "", kNewYear2026, 5),
              ElementsAre("2026-01-02 00:00", "2026-01-03 00:00", "2026-01-04 00:00",
                          "2026-01-11 00:00", "2026-01-18 00:00"));
}

TEST(CronScheduleTest, BothDayFieldsMatchWhenOneStartsWithAStar) {
  // "*/7" in day-of-week is 0 and 7, Sunday, but starts with '*': the first
  // Sunday of each month.
  EXPECT_THAT(
      Fires("0 0 1-7 * */7", "", kNewYear2026, 4),
      ElementsAre("2026-01-04 00:00", "2026-02-01 00:00", "2026-03-01 00:00", "2026-04-05 00:00"));
  // Odd days of the month that are Mondays.
  EXPECT_THAT(
      Fires("0 0 */2 * mon", "", kNewYear2026, 4),
      ElementsAre("2026-01-05 00:00", "2026-01-19 00:00", "2026-02-09 00:00", "2026-02-23 00:00"));
}

TEST(CronScheduleTest, MacrosEqualTheirExpansions) {
  const std::pair<const char*, const char*> macros[] = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"}, {"@DAILY", "0 0 * * *"},    {"  @Hourly\t", "0 * * * *"},
  };
  const absl::CivilSecond start(2026, 5, 17, 13, 14, 15);
  for (const auto& [macro, expansion] : macros) {
    EXPECT_EQ(Fires(macro, "", start, 3), Fires(expansion, "", start, 3)) << macro;
  }
  EXPECT_THAT(Fires("@weekly", "", start, 2), ElementsAre("2026-05-24 00:00", "2026-05-31 00:00"));
  EXPECT_THAT(Fires("@yearly", "", start, 1), ElementsAre("2027-01-01 00:00"));
}

TEST(CronScheduleTest, CrossesMonthAndYearEnds) {
  EXPECT_THAT(
      Fires("0 0 31 * *", "", absl::CivilSecond(2026, 1, 31, 0, 0, 0), 7),
      ElementsAre("2026-03-31 00:00", "2026-05-31 00:00", "2026-07-31 00:00", "2026-08-31 00:00",
                  "2026-10-31 00:00", "2026-12-31 00:00", "2027-01-31 00:00"));
  EXPECT_THAT(Fires("59 23 31 12 *", "", absl::CivilSecond(2026, 12, 31, 23, 59, 0), 1),
              ElementsAre("2027-12-31 23:59"));
  EXPECT_THAT(Fires("0 0 1 1 *", "", absl::CivilSecond(2026, 12, 31, 23, 59, 59), 1),
              ElementsAre("2027-01-01 00:00"));
  EXPECT_THAT(
      Fires("0 0 28-31 2 *", "", absl::CivilSecond(2027, 2, 1, 0, 0, 0), 4),
      ElementsAre("2027-02-28 00:00", "2028-02-28 00:00", "2028-02-29 00:00", "2029-02-28 00:00"));
}

TEST(CronScheduleTest, FindsLeapDaysAndSkipsCenturyYears) {
  EXPECT_THAT(Fires("0 0 29 2 *", "", kNewYear2026, 2),
              ElementsAre("2028-02-29 00:00", "2032-02-29 00:00"));
  // 2100 is not a leap year: the longest gap a schedule may have.
  EXPECT_THAT(Fires("0 0 29 2 *", "", absl::CivilSecond(2096, 3, 1, 0, 0, 0), 1),
              ElementsAre("2104-02-29 00:00"));
  absl::StatusOr<CronSchedule> leap = CronSchedule::Parse("0 0 29 2 *", "");
  ASSERT_TRUE(leap.ok()) << leap.status();
  int count = 0;
  for (absl::Time t = leap->Next(Utc(2000, 1, 1, 0, 0)); t < Utc(2400, 1, 1, 0, 0);
       t = leap->Next(t)) {
    ++count;
  }
  EXPECT_EQ(count, 97);  // leap years in a 400-year cycle
}

TEST(CronScheduleTest, EvaluatesFieldsInLocalTime) {
  absl::StatusOr<CronSchedule> nine = CronSchedule::Parse("0 9 * * *", "Asia/Kolkata");
  ASSERT_TRUE(nine.ok()) << nine.status();
  EXPECT_EQ(nine->time_zone(), "Asia/Kolkata");
  EXPECT_EQ(nine->Next(Utc(2026, 1, 1, 0, 0)), Utc(2026, 1, 1, 3, 30));
  EXPECT_EQ(nine->Next(Utc(2026, 1, 1, 3, 30)), Utc(2026, 1, 2, 3, 30));

  // New Year in Kolkata is still the old year in UTC.
  absl::StatusOr<CronSchedule> new_year = CronSchedule::Parse("30 0 1 1 *", "Asia/Kolkata");
  ASSERT_TRUE(new_year.ok()) << new_year.status();
  EXPECT_EQ(new_year->Next(Utc(2025, 12, 1, 0, 0)), Utc(2025, 12, 31, 19, 0));

  // Sunday 23:30 UTC is Monday 05:00 in Kolkata: Monday has begun.
  absl::StatusOr<CronSchedule> monday = CronSchedule::Parse("0 0 * * mon", "Asia/Kolkata");
  ASSERT_TRUE(monday.ok()) << monday.status();
  EXPECT_EQ(monday->Next(Utc(2026, 1, 4, 18, 0)), Utc(2026, 1, 4, 18, 30));
  EXPECT_EQ(monday->Next(Utc(2026, 1, 4, 18, 30)), Utc(2026, 1, 11, 18, 30));
}

TEST(CronScheduleTest, SkippedLocalTimeFiresWhenTheGapEnds) {
  // New York springs forward at 02:00 EST to 03:00 EDT on 2026-03-08.
  EXPECT_THAT(
      Fires("30 2 * * *", "America/New_York", absl::CivilSecond(2026, 3, 7, 12, 0, 0), 3,
            kLocalWithOffset),
      ElementsAre("2026-03-08 03:00 -04:00", "2026-03-09 02:30 -04:00", "2026-03-10 02:30 -04:00"));
  absl::StatusOr<CronSchedule> half_two = CronSchedule::Parse("30 2 * * *", "America/New_York");
  ASSERT_TRUE(half_two.ok()) << half_two.status();
  EXPECT_EQ(half_two->Next(Utc(2026, 3, 8, 0, 0)), Utc(2026, 3, 8, 7, 0));

  // The four skipped quarter hours fire once, together with 03:00.
  EXPECT_THAT(
      Fires("*/15 2,3 * * *", "America/New_York", absl::CivilSecond(2026, 3, 8, 0, 0, 0), 5,
            kLocalWithOffset),
      ElementsAre("2026-03-08 03:00 -04:00", "2026-03-08 03:15 -04:00", "2026-03-08 03:30 -04:00",
                  "2026-03-08 03:45 -04:00", "2026-03-09 02:00 -04:00"));

  // Berlin springs forward at 02:00 CET to 03:00 CEST on 2026-03-29.
  EXPECT_THAT(Fires("30 2 * * *", "Europe/Berlin", absl::CivilSecond(2026, 3, 28, 12, 0, 0), 2,
                    kLocalWithOffset),
              ElementsAre("2026-03-29 03:00 +02:00", "2026-03-30 02:30 +02:00"));
}

TEST(CronScheduleTest, RepeatedLocalTimeFiresOnlyTheFirstTime) {
  // New York falls back at 02:00 EDT to 01:00 EST on 2026-11-01.
  EXPECT_THAT(Fires("30 1 * * *", "America/New_York", absl::CivilSecond(2026, 10, 31, 12, 0, 0), 2,
                    kLocalWithOffset),
              ElementsAre("2026-11-01 01:30 -04:00", "2026-11-02 01:30 -05:00"));
  EXPECT_THAT(Fires("*/20 * * * *", "America/New_York", absl::CivilSecond(2026, 11, 1, 0, 50, 0), 4,
                    kLocalWithOffset),
              ElementsAre("2026-11-01 01:00 -04:00", "2026-11-01 01:20 -04:00",
                          "2026-11-01 01:40 -04:00", "2026-11-01 02:00 -05:00"));

  // From inside the repeated hour (01:10 EST), its minutes have fired.
  absl::StatusOr<CronSchedule> half_one = CronSchedule::Parse("30 1 * * *", "America/New_York");
  ASSERT_TRUE(half_one.ok()) << half_one.status();
  EXPECT_EQ(half_one->Next(Utc(2026, 11, 1, 6, 10)), Utc(2026, 11, 2, 6, 30));
  absl::StatusOr<CronSchedule> thirds = CronSchedule::Parse("*/20 * * * *", "America/New_York");
  ASSERT_TRUE(thirds.ok()) << thirds.status();
  EXPECT_EQ(thirds->Next(Utc(2026, 11, 1, 6, 10)), Utc(2026, 11, 1, 7, 0));

  // Berlin falls back at 03:00 CEST to 02:00 CET on 2026-10-25.
  EXPECT_THAT(Fires("30 2 * * *", "Europe/Berlin", absl::CivilSecond(2026, 10, 24, 12, 0, 0), 2,
                    kLocalWithOffset),
              ElementsAre("2026-10-25 02:30 +02:00", "2026-10-26 02:30 +01:00"));
}

TEST(CronScheduleTest, SkippedDayFiresOnceWhenTheDayEnds) {
  // Samoa skipped 2011-12-30 when it moved across the date line.
  EXPECT_THAT(Fires("0 12 * * *", "Pacific/Apia", absl::CivilSecond(2011, 12, 29, 12, 0, 0), 2,
                    kLocalWithOffset),
              ElementsAre("2011-12-31 00:00 +14:00", "2011-12-31 12:00 +14:00"));
}

TEST(CronScheduleTest, EmptyZoneIsUtcAndTheExpressionIsKeptAsGiven) {
  absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(" 0 0 * * * ", "");
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  EXPECT_EQ(schedule->expression(), " 0 0 * * * ");
  EXPECT_EQ(schedule->time_zone(), "UTC");
  EXPECT_EQ(schedule->Next(Utc(2026, 1, 1, 12, 0)), Utc(2026, 1, 2, 0, 0));

  absl::StatusOr<CronSchedule> utc = CronSchedule::Parse("0 0 * * *", "UTC");
  ASSERT_TRUE(utc.ok()) << utc.status();
  EXPECT_EQ(utc->time_zone(), "UTC");

  // POSIX-style Etc zones have inverted signs: Etc/GMT+5 is UTC-5.
  absl::StatusOr<CronSchedule> gmt5 = CronSchedule::Parse("0 0 * * *", "Etc/GMT+5");
  ASSERT_TRUE(gmt5.ok()) << gmt5.status();
  EXPECT_EQ(gmt5->Next(Utc(2026, 1, 1, 12, 0)), Utc(2026, 1, 2, 5, 0));
}

TEST(CronScheduleTest, CopiesAreEqualAndIndependent) {
  absl::StatusOr<CronSchedule> parsed = CronSchedule::Parse("15 10 * * *", "Europe/Berlin");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  CronSchedule copy = *parsed;
  parsed = CronSchedule::Parse("0 0 1 1 *", "");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(copy.expression(), "15 10 * * *");
  EXPECT_EQ(copy.time_zone(), "Europe/Berlin");
  EXPECT_EQ(copy.Next(Utc(2026, 1, 1, 0, 0)), Utc(2026, 1, 1, 9, 15));
}

TEST(CronScheduleTest, InfiniteTimesHaveNoNextFireTime) {
  absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse("* * * * *", "");
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  EXPECT_EQ(schedule->Next(absl::InfiniteFuture()), absl::InfiniteFuture());
  EXPECT_EQ(schedule->Next(absl::InfinitePast()), absl::InfinitePast());
}

struct BadSchedule {
  const char* expression;
  const char* time_zone;
  const char* message;
};

TEST(CronScheduleTest, RejectsBadExpressionsWithPreciseMessages) {
  const BadSchedule cases[] = {
      {"61 * * * *", "", R"(cron expression "61 * * * *": minute "61" is out of range 0-59)"},
      {"* 24 * * *", "", R"(cron expression "* 24 * * *": hour "24" is out of range 0-23)"},
      {"* * 0 * *", "", R"(cron expression "* * 0 * *": day-of-month "0" is out of range 1-31)"},
      {"* * 32 * *", "", R"(cron expression "* * 32 * *": day-of-month "32" is out of range 1-31)"},
      {"* * * 13 *", "", R"(cron expression "* * * 13 *": month "13" is out of range 1-12)"},
      {"* * * * 8", "", R"(cron expression "* * * * 8": day-of-week "8" is out of range 0-7)"},
      {"0-60 * * * *", "", R"(cron expression "0-60 * * * *": minute "60" is out of range 0-59)"},
      {"99999999999 * * * *", "",
       R"(cron expression "99999999999 * * * *": minute "99999999999" is out of range 0-59)"},
      {"* * * *", "",
       R"(cron expression "* * * *": expected 5 fields (minute hour day-of-month month )"
       R"(day-of-week), got 4)"},
      {"0 * * * * *", "",
       R"(cron expression "0 * * * * *": expected 5 fields (minute hour day-of-month month )"
       R"(day-of-week), got 6)"},
      {"", "",
       R"(cron expression "": expected 5 fields (minute hour day-of-month month day-of-week), )"
       R"(got 0)"},
      {"@reboot", "",
       R"(cron expression "@reboot": unknown macro "@reboot" (expected @yearly, @annually, )"
       R"(@monthly, @weekly, @daily, @midnight or @hourly))"},
      {"@daily 5", "",
       R"(cron expression "@daily 5": unknown macro "@daily 5" (expected @yearly, @annually, )"
       R"(@monthly, @weekly, @daily, @midnight or @hourly))"},
      {"*/0 * * * *", "", R"(cron expression "*/0 * * * *": minute step "0" is out of range 1-59)"},
      {"0 0 1-31/32 * *", "",
       R"(cron expression "0 0 1-31/32 * *": day-of-month step "32" is out of range 1-31)"},
      {"*/x * * * *", "", R"(cron expression "*/x * * * *": minute step "x" is not a number)"},
      {"5/ * * * *", "", R"(cron expression "5/ * * * *": minute step "" is not a number)"},
      {"*/2/3 * * * *", "",
       R"(cron expression "*/2/3 * * * *": minute "*/2/3" has more than one step)"},
      {"/5 * * * *", "",
       R"(cron expression "/5 * * * *": minute "/5" has no value before the step)"},
      {"5-1 * * * *", "", R"(cron expression "5-1 * * * *": minute range "5-1" is reversed)"},
      {"0 0 * * sat-sun", "",
       R"(cron expression "0 0 * * sat-sun": day-of-week range "sat-sun" is reversed)"},
      {"0 0 * nov-feb *", "",
       R"(cron expression "0 0 * nov-feb *": month range "nov-feb" is reversed)"},
      {"1-2-3 * * * *", "",
       R"(cron expression "1-2-3 * * * *": minute "1-2-3" is not a valid range)"},
      {"-5 * * * *", "", R"(cron expression "-5 * * * *": minute "-5" is not a valid range)"},
      {"5- * * * *", "", R"(cron expression "5- * * * *": minute "5-" is not a valid range)"},
      {"1,,2 * * * *", "",
       R"(cron expression "1,,2 * * * *": minute "1,,2" has an empty list element)"},
      {"1, * * * *", "", R"(cron expression "1, * * * *": minute "1," has an empty list element)"},
      {"x * * * *", "", R"(cron expression "x * * * *": minute "x" is not a number)"},
      {"+5 * * * *", "", R"(cron expression "+5 * * * *": minute "+5" is not a number)"},
      {"0 mon * * *", "", R"(cron expression "0 mon * * *": hour "mon" is not a number)"},
      {"0 0 1 foo *", "",
       R"(cron expression "0 0 1 foo *": month "foo" is not a number or a month name)"},
      {"0 0 1 January *", "",
       R"(cron expression "0 0 1 January *": month "January" is not a number or a month name)"},
      {"0 0 * * funday", "",
       R"(cron expression "0 0 * * funday": day-of-week "funday" is not a number or a day name)"},
      {"0 0 * * jan", "",
       R"(cron expression "0 0 * * jan": day-of-week "jan" is not a number or a day name)"},
      {"? * * * *", "",
       R"(cron expression "? * * * *": minute "?" is only allowed in day-of-month and )"
       R"(day-of-week)"},
      {"0 0 * ? *", "",
       R"(cron expression "0 0 * ? *": month "?" is only allowed in day-of-month and )"
       R"(day-of-week)"},
      {"0 0 ?/2 * *", "",
       R"(cron expression "0 0 ?/2 * *": day-of-month "?/2" uses "?", which must be the )"
       R"(whole field)"},
      {"0 0 30 2 *", "",
       R"(cron expression "0 0 30 2 *": never fires: no date matches day-of-month "30", )"
       R"(month "2" and day-of-week "*")"},
      {"0 0 31 apr,jun,sep,nov *", "",
       R"(cron expression "0 0 31 apr,jun,sep,nov *": never fires: no date matches )"
       R"(day-of-month "31", month "apr,jun,sep,nov" and day-of-week "*")"},
      {"0 0 29 2 */6", "",
       R"(cron expression "0 0 29 2 */6": fires too rarely: dates matching day-of-month "29", )"
       R"(month "2" and day-of-week "*/6" can be more than 8 years apart)"},
      {"* * * * *", "Mars/Olympus_Mons",
       R"(cron expression "* * * * *": unknown time zone "Mars/Olympus_Mons")"},
      {"* * * * *", "localtime", R"(cron expression "* * * * *": unknown time zone "localtime")"},
      {"* * * * *", "/usr/share/zoneinfo/UTC",
       R"(cron expression "* * * * *": unknown time zone "/usr/share/zoneinfo/UTC")"},
      {"* * * * *", "../zoneinfo/UTC",
       R"(cron expression "* * * * *": unknown time zone "../zoneinfo/UTC")"},
      {"* * * * *", "Europe//Berlin",
       R"(cron expression "* * * * *": unknown time zone "Europe//Berlin")"},
      {"* * * * *", "utc", R"(cron expression "* * * * *": unknown time zone "utc")"},
  };
  for (const BadSchedule& c : cases) {
    absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(c.expression, c.time_zone);
    EXPECT_EQ(schedule.status().code(), absl::StatusCode::kInvalidArgument)
        << c.expression << " in " << c.time_zone;
    EXPECT_EQ(schedule.status().message(), c.message) << c.expression << " in " << c.time_zone;
  }
}

TEST(CronScheduleTest, AcceptsSparseSchedulesThatStillFireEveryFewYears) {
  // Both day fields restricted: any Monday in February also fires.
  absl::StatusOr<CronSchedule> leap_or_monday = CronSchedule::Parse("0 0 29 2 mon", "");
  ASSERT_TRUE(leap_or_monday.ok()) << leap_or_monday.status();
  EXPECT_EQ(leap_or_monday->Next(Utc(2026, 3, 1, 0, 0)), Utc(2027, 2, 1, 0, 0));
  // The 31st falling on a Sunday happens every year or so.
  absl::StatusOr<CronSchedule> sunday_31st = CronSchedule::Parse("0 0 31 * */7", "");
  ASSERT_TRUE(sunday_31st.ok()) << sunday_31st.status();
  EXPECT_EQ(sunday_31st->Next(Utc(2026, 1, 1, 0, 0)), Utc(2026, 5, 31, 0, 0));
}

// ReferenceFires returns the first `count` fire times after `after` by
// stepping through every minute of absolute time: an instant fires when some
// local minute the clock has never shown before, up to the one it shows now,
// matches. That is the documented rule (skipped minutes fire when the gap
// ends, repeated ones the first time) stated without absl's TimeInfo.
// Assumes the zone changes offsets only at whole minutes.
std::vector<absl::Time> ReferenceFires(const std::function<bool(absl::CivilMinute)>& matches,
                                       const absl::TimeZone& zone, absl::Time after, int count) {
  const absl::Time start =
      absl::UnixEpoch() + absl::Floor(after - absl::UnixEpoch(), absl::Minutes(1));
  // Start a day early, so that `highest` has seen a whole repeated period.
  absl::Time t = start - absl::Hours(26);
  absl::CivilMinute highest = absl::ToCivilMinute(t, zone);
  std::vector<absl::Time> fires;
  while (fires.size() < static_cast<size_t>(count) && t < start + absl::Hours(24 * 400)) {
    t += absl::Minutes(1);
    const absl::CivilMinute now = absl::ToCivilMinute(t, zone);
    bool fires_now = false;
    for (absl::CivilMinute m = highest + 1; m <= now && !fires_now; ++m) fires_now = matches(m);
    if (now > highest) highest = now;
    if (fires_now && t > after) fires.push_back(t);
  }
  return fires;
}

int Weekday(absl::CivilMinute m) {
  return (static_cast<int>(absl::GetWeekday(absl::CivilDay(m))) + 1) % 7;
}

struct Reference {
  const char* expression;
  std::function<bool(absl::CivilMinute)> matches;
};

TEST(CronScheduleTest, NextAgreesWithMinuteByMinuteReference) {
  const Reference references[] = {
      {"* * * * *", [](absl::CivilMinute) { return true; }},
      {"*/7 * * * *", [](absl::CivilMinute m) { return m.minute() % 7 == 0; }},
      {"30 2 * * *", [](absl::CivilMinute m) { return m.minute() == 30 && m.hour() == 2; }},
      {"0-5,58 1,2 * * *",
       [](absl::CivilMinute m) {
         return (m.minute() <= 5 || m.minute() == 58) && (m.hour() == 1 || m.hour() == 2);
       }},
      {"15 */5 * * mon-fri",
       [](absl::CivilMinute m) {
         return m.minute() == 15 && m.hour() % 5 == 0 && Weekday(m) >= 1 && Weekday(m) <= 5;
       }},
      {"0 0 13 * fri",
       [](absl::CivilMinute m) {
         return m.minute() == 0 && m.hour() == 0 && (m.day() == 13 || Weekday(m) == 5);
       }},
      {"0 12 1-7 * */7",
       [](absl::CivilMinute m) {
         return m.minute() == 0 && m.hour() == 12 && m.day() <= 7 && Weekday(m) == 0;
       }},
      {"*/10 0-2 */2 * 0,6",
       [](absl::CivilMinute m) {
         return m.minute() % 10 == 0 && m.hour() <= 2 && m.day() % 2 == 1 &&
                (Weekday(m) == 0 || Weekday(m) == 6);
       }},
      {"5 4 1,15 * *",
       [](absl::CivilMinute m) {
         return m.minute() == 5 && m.hour() == 4 && (m.day() == 1 || m.day() == 15);
       }},
      {"59 23 * * *", [](absl::CivilMinute m) { return m.minute() == 59 && m.hour() == 23; }},
  };
  const char* const zones[] = {"UTC",          "America/New_York",    "Europe/Berlin",
                               "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Apia"};
  constexpr int kStartsPerCase = 24;
  constexpr int kFiresPerStart = 2;
  std::mt19937_64 random(20260308);
  const absl::Time earliest = Utc(2010, 1, 1, 0, 0);
  const absl::Time latest = Utc(2035, 1, 1, 0, 0);
  std::uniform_int_distribution<int64_t> any_second(0, absl::ToInt64Seconds(latest - earliest));
  // Starts near clock changes begin up to 36 hours before one.
  std::uniform_int_distribution<int64_t> near_change(-36 * 3600, 2 * 3600);
  for (const char* zone_name : zones) {
    const absl::TimeZone zone = Zone(zone_name);
    for (const Reference& reference : references) {
      absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(reference.expression, zone_name);
      ASSERT_TRUE(schedule.ok()) << schedule.status();
      for (int i = 0; i < kStartsPerCase; ++i) {
        absl::Time after = earliest + absl::Seconds(any_second(random));
        absl::TimeZone::CivilTransition change;
        // Every other start lies near a clock change, where there is one.
        if (i % 2 == 1 && zone.NextTransition(after, &change)) {
          after = zone.At(change.to).trans + absl::Seconds(near_change(random));
        }
        const std::vector<absl::Time> expected =
            ReferenceFires(reference.matches, zone, after, kFiresPerStart);
        ASSERT_EQ(expected.size(), static_cast<size_t>(kFiresPerStart));
        absl::Time t = after;
        for (int k = 0; k < kFiresPerStart; ++k) {
          t = schedule->Next(t);
          EXPECT_EQ(t, expected[k])
              << reference.expression << " in " << zone_name << ", fire " << k << " after "
              << absl::FormatTime(kLocalWithOffset, after, zone) << ": got "
              << absl::FormatTime(kLocalWithOffset, t, zone) << ", want "
              << absl::FormatTime(kLocalWithOffset, expected[k], zone);
          if (t != expected[k]) break;
        }
      }
    }
  }
}

}  // namespace
}  // namespace sluice
