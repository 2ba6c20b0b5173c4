#pragma once

// Time and randomness are injected so that retry timing and scheduling are testable.

#include <chrono>
#include <cstdint>
#include <random>

#include "daemon/common/duration.h"

namespace omnigate {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SysTime now() const = 0;
};

class SystemClock final : public Clock {
 public:
  SysTime now() const override {
    return std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(SysTime start) : now_(start) {}
  SysTime now() const override { return now_; }
  void advance(Millis by) { now_ += by; }
  void set(SysTime t) { now_ = t; }

 private:
  SysTime now_;
};

class Random {
 public:
  virtual ~Random() = default;
  // Uniform in [0, 1).
  virtual double uniform() = 0;
  virtual std::uint64_t next64() = 0;
};

class SystemRandom final : public Random {
 public:
  SystemRandom() : engine_(std::random_device{}()) {}
  double uniform() override { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }
  std::uint64_t next64() override { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace omnigate
