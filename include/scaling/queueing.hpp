// scaling/queueing.hpp: everything in the message-queue layer (mpmc_queue, work_queue,
// mailbox). The Asio integration lives in scaling/asio/ and is included separately, so users
// who don't use Asio don't pay for its compile time.
#pragma once

#include <scaling/queueing/mailbox.hpp>
#include <scaling/queueing/mpmc_queue.hpp>
#include <scaling/queueing/work_queue.hpp>
