/* What differs between the STM32F7 Discovery kits that share this board support (startup,
 * clock, USART1 on the ST-LINK virtual COM port): the board's name and the pins of its VCP.
 * Each board defines one disco_board (firmware/bsp/<board>/disco_*.c), listed in its board.json. */
#ifndef DISCO_BOARD_H
#define DISCO_BOARD_H

#include <stdint.h>

typedef struct
{
    uint32_t port; /* GPIO port index: 0 = GPIOA, 1 = GPIOB, ... */
    uint32_t pin;  /* 0..15 */
} disco_pin_t;

typedef struct
{
    const char *name;    /* reported in HELLO, e.g. "stm32f746g-disco" */
    disco_pin_t uart_tx; /* USART1 TX (AF7) */
    disco_pin_t uart_rx; /* USART1 RX (AF7), pulled up */
} disco_board_t;

extern const disco_board_t disco_board;

#endif /* DISCO_BOARD_H */
