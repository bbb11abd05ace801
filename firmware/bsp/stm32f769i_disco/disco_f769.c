/* STM32F769I-DISCO (UM2033): the ST-LINK virtual COM port is USART1 on PA9 (TX) and PA10 (RX).
 * Clock (25 MHz HSE, 216 MHz through the PLL), startup and UART driver are the F746G-DISCO's:
 * RM0410 keeps RM0385's RCC, PWR, FLASH, GPIO and USART registers. */
#include "../stm32f746g_disco/disco_board.h"

const disco_board_t disco_board = {
    .name = "stm32f769i-disco",
    .uart_tx = {.port = 0u, .pin = 9u},
    .uart_rx = {.port = 0u, .pin = 10u},
};
