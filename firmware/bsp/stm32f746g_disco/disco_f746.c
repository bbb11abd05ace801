/* STM32F746G-DISCO (UM1907): the ST-LINK virtual COM port is USART1 on PA9 (TX) and PB7 (RX). */
#include "disco_board.h"

const disco_board_t disco_board = {
    .name = "stm32f746g-disco",
    .uart_tx = {.port = 0u, .pin = 9u},
    .uart_rx = {.port = 1u, .pin = 7u},
};
